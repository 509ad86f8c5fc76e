/**
 * One place maps what went wrong to the `extensions.code` the contract promises, so resolvers
 * just throw domain errors. Unknown errors are logged and never leak their details in production.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import type { ValidationError as ClassValidatorError } from 'class-validator';
import { GraphQLError, type GraphQLFormattedError, type GraphQLSchema } from 'graphql';
import { ArgumentValidationError, AuthenticationError, AuthorizationError } from 'type-graphql';
import {
  DuplicateSuspectedError,
  ForbiddenError,
  InvalidTransitionError,
  NotFoundError,
  PersonalDataErasedError,
  ValidationError,
  type FieldProblem,
} from '../../core/errors';
import { ConcurrencyConflictError, NO_STREAM } from '../../core/eventStore';
import { isStoreUnavailable, RETRY_AFTER_SECONDS } from '../../core/storeErrors';
import { ReadModelTimeoutError } from '../../../projections/runner';

/**
 * Domain errors name fields relative to a mutation's `input` argument; on queries they name the
 * query's own arguments (`first`, `after`...), so only mutation errors get the `input.` prefix.
 */
export const formatErrorFor =
  (schema: GraphQLSchema) =>
  (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const root = formatted.path?.[0];
    const onMutation = typeof root === 'string' && schema.getMutationType()?.getFields()[root] !== undefined;
    return formatError(formatted, error, onMutation ? 'input.' : '');
  };

const formatError = (formatted: GraphQLFormattedError, error: unknown, fieldPrefix: string): GraphQLFormattedError => {
  const original = unwrapResolverError(error);
  const withCode = (message: string, extensions: Record<string, unknown>): GraphQLFormattedError => ({
    message,
    locations: formatted.locations,
    path: formatted.path,
    extensions,
  });

  if (original instanceof ArgumentValidationError) {
    const fields = flattenValidationErrors(original.extensions.validationErrors, fieldPrefix);
    return withCode(`Invalid input: ${fields.map((f) => `${f.field} ${f.message}`).join('; ')}`, {
      code: 'BAD_USER_INPUT',
      fields,
    });
  }
  if (original instanceof ValidationError) {
    return withCode(original.message, {
      code: 'BAD_USER_INPUT',
      fields: original.fields.map((f) => ({ ...f, field: `${fieldPrefix}${f.field}` })),
    });
  }
  if (original instanceof NotFoundError) {
    return withCode(original.message, { code: 'NOT_FOUND', entity: original.entity, id: original.id });
  }
  if (original instanceof InvalidTransitionError) {
    return withCode(original.message, { code: 'INVALID_TRANSITION', state: original.state });
  }
  if (original instanceof DuplicateSuspectedError) {
    return withCode(original.message, { code: 'DUPLICATE_SUSPECTED', candidates: original.candidates });
  }
  if (original instanceof ConcurrencyConflictError) {
    return withCode(
      `The entity has changed since revision ${String(original.expectedRevision)}: reload it and try again`,
      {
        code: 'CONFLICT',
        expectedRevision: typeof original.expectedRevision === 'number' ? original.expectedRevision : null,
        actualRevision: original.actualRevision === NO_STREAM ? null : original.actualRevision,
      },
    );
  }
  if (original instanceof PersonalDataErasedError) {
    return withCode(original.message, {
      code: 'PERSONAL_DATA_ERASED',
      fields: original.fields.map((field) => ({ field: `${fieldPrefix}${field}`, message: 'erased: cannot be recorded' })),
    });
  }
  if (original instanceof AuthenticationError) {
    return withCode(original.message, { code: 'UNAUTHENTICATED' });
  }
  if (original instanceof ForbiddenError) {
    return withCode(original.message, { code: 'FORBIDDEN', requiredRoles: original.requiredRoles });
  }
  if (original instanceof AuthorizationError) {
    return withCode(original.message, { code: 'FORBIDDEN' });
  }
  if (original instanceof GraphQLError && formatted.extensions?.code === 'INTERNAL_SERVER_ERROR' && (original.extensions.http as { status?: number } | undefined)?.status === 400) {
    // Apollo refuses some requests with status 400 but no code (a persisted query whose hash does
    // not match its text), and then names them INTERNAL_SERVER_ERROR: the client is at fault.
    return withCode(formatted.message, { code: 'BAD_REQUEST' });
  }
  if (original instanceof GraphQLError || !(original instanceof Error)) return formatted;
  if (original instanceof ReadModelTimeoutError) {
    // Only a recorded write waits for the read models: sending it again would record it twice.
    return withCode(
      `The write is recorded (at position ${original.position}), but the read models did not reach it within ` +
        `${original.timeoutMs} ms, so this answer cannot show it. Do not send the write again: read it back in a moment.`,
      { code: READ_MODEL_BEHIND, recorded: true, position: original.position },
    );
  }
  if (isStoreUnavailable(original)) {
    // Logged for operators (the request's own log line and metrics say UNAVAILABLE), never sent.
    console.warn(`A database was unavailable: ${original.message}`);
    return withCode(UNAVAILABLE_MESSAGE, { code: UNAVAILABLE, retryAfterSeconds: RETRY_AFTER_SECONDS });
  }

  console.error('Unexpected error', original);
  return process.env.NODE_ENV === 'production'
    ? withCode('Internal server error', { code: 'INTERNAL_SERVER_ERROR' })
    : formatted;
};

const UNAVAILABLE = 'UNAVAILABLE';
const READ_MODEL_BEHIND = 'READ_MODEL_BEHIND';

const UNAVAILABLE_MESSAGE =
  'The database could not take this request now (busy, or unreachable for a moment): send it again ' +
  `in ${RETRY_AFTER_SECONDS} s or more. A mutation sent again with the same idempotencyKey is recorded at most once.`;

/**
 * An answer that met an unavailable database says when to try again (`Retry-After`), and is HTTP
 * 503 when nothing of it could be answered (`data` null: a mutation, whose payload is non-null),
 * so that a load balancer or an HTTP client that retries on 503 does so. Partial answers stay 200.
 */
export const unavailableAnswers: ApolloServerPlugin = {
  async requestDidStart() {
    return {
      async willSendResponse({ response }) {
        if (response.body.kind !== 'single') return;
        const { data, errors } = response.body.singleResult;
        if (!errors?.some((error) => error.extensions?.code === UNAVAILABLE)) return;
        response.http.headers.set('retry-after', String(RETRY_AFTER_SECONDS));
        if (data == null) response.http.status = 503;
      },
    };
  },
};

/**
 * What a client would read in `extensions` had this error ended a request of its own: one row of
 * a bulk import answers it in its result instead of failing the other rows.
 */
export const extensionsOf = (error: unknown, fieldPrefix = ''): { message: string; code: string; fields: FieldProblem[] } => {
  const formatted = formatError({ message: error instanceof Error ? error.message : String(error) }, error, fieldPrefix);
  const extensions = (formatted.extensions ?? {}) as { code?: string; fields?: FieldProblem[] };
  return { message: formatted.message, code: extensions.code ?? 'INTERNAL_SERVER_ERROR', fields: extensions.fields ?? [] };
};

/** class-validator nests errors by property; clients want one flat list of paths. */
export const flattenValidationErrors = (errors: readonly ClassValidatorError[], prefix: string): FieldProblem[] =>
  errors.flatMap((error) => {
    const field = `${prefix}${error.property}`;
    const own = Object.values(error.constraints ?? {}).map((message) => ({ field, message }));
    return [...own, ...flattenValidationErrors(error.children ?? [], `${field}.`)];
  });
