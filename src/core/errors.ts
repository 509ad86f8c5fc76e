/**
 * Domain and application errors. Each maps to one `extensions.code` of the GraphQL contract
 * (see `src/graphql/shared/errors.ts`), so a client can tell a bad input from a forbidden transition.
 */

export interface FieldProblem {
  /** A dotted path into the input, e.g. `person.email`. */
  field: string;
  message: string;
}

/** BAD_USER_INPUT */
export class ValidationError extends Error {
  override readonly name = 'ValidationError';
  constructor(readonly fields: FieldProblem[]) {
    super(fields.map((f) => `${f.field}: ${f.message}`).join('; '));
  }
}

/** INVALID_TRANSITION: the command is not allowed in the entity's current state. */
export class InvalidTransitionError extends Error {
  override readonly name = 'InvalidTransitionError';
  constructor(
    readonly state: string,
    message: string,
  ) {
    super(message);
  }
}

/** NOT_FOUND */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
  constructor(
    readonly entity: string,
    readonly id: string,
  ) {
    super(`${entity} ${id} was not found`);
  }
}

export interface DuplicateCandidate {
  entity: 'Account' | 'Contact';
  id: string;
  name: string;
  /** Which normalised attribute matched: NAME, DOMAIN or EMAIL. */
  matchedOn: string;
}

/** DUPLICATE_SUSPECTED: creating this would likely duplicate what the candidates already are. */
export class DuplicateSuspectedError extends Error {
  override readonly name = 'DuplicateSuspectedError';
  constructor(readonly candidates: DuplicateCandidate[]) {
    super(
      `Possible duplicates: ${candidates.map((c) => `${c.entity} ${c.name} (${c.matchedOn})`).join(', ')}; ` +
        'attach to one of them, or pass allowDuplicate: true',
    );
  }
}

/** FORBIDDEN: the caller's roles, or its relation to the entity, do not allow this. Nothing was written. */
export class ForbiddenError extends Error {
  override readonly name = 'ForbiddenError';
  constructor(
    /** What was refused, in words a client can show. */
    readonly what: string,
    /** Any one of these roles would have allowed it. */
    readonly requiredRoles: readonly string[],
    reason?: string,
  ) {
    super(reason ?? `${what} needs one of the roles: ${requiredRoles.join(', ')}`);
  }
}

/**
 * PERSONAL_DATA_ERASED: the command would record personal data about a person whose data was
 * erased. Nothing was written; the same command without the personal fields is accepted.
 */
export class PersonalDataErasedError extends Error {
  override readonly name = 'PersonalDataErasedError';
  constructor(
    readonly streamId: string,
    readonly fields: readonly string[],
  ) {
    super(
      `The personal data of the person behind ${streamId} was erased: ${fields.join(', ')} cannot be recorded about them`,
    );
  }
}
