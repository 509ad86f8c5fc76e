// The only way this page reads data: POST /graphql on this origin, with the pasted token.

const TOKEN_KEY = 'crm-dashboard-token';

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** A GraphQL answer with errors: `code` is the first error's extensions.code (FORBIDDEN, ...). */
export class ApiError extends Error {
  constructor(errors, status) {
    const first = errors[0] ?? {};
    super(describe(first, status));
    this.code = first.extensions?.code ?? `HTTP_${status}`;
    this.errors = errors;
  }
}

const describe = (error, status) => {
  const code = error.extensions?.code;
  if (code === 'FORBIDDEN') {
    const roles = error.extensions?.requiredRoles;
    return `FORBIDDEN: your token's roles may not read this${roles ? ` (it needs one of: ${roles.join(', ')})` : ''}.`;
  }
  if (code === 'UNAUTHENTICATED') return `UNAUTHENTICATED: ${error.message}. Sign out and paste a valid token.`;
  return `${code ?? `HTTP ${status}`}: ${error.message ?? 'request failed'}`;
};

export const gql = async (query, variables = {}) => {
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token.get()}` },
    body: JSON.stringify({ query, variables }),
  });
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError([{ message: `the server answered ${response.status} without JSON` }], response.status);
  }
  if (body.errors?.length) throw new ApiError(body.errors, response.status);
  return body.data;
};
