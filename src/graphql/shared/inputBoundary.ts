/**
 * The input boundary: every string a request carries, in the document or in its variables, is
 * checked before anything runs. A string with U+0000 or a lone UTF-16 surrogate cannot be stored
 * faithfully by every store (PostgreSQL text refuses NUL; JSON encoders mangle lone surrogates),
 * and an `ID` must look like one of ours, so that a 900 KB "id" is refused without being echoed.
 */
import {
  getNamedType,
  GraphQLID,
  isInputObjectType,
  isListType,
  isNonNullType,
  Kind,
  typeFromAST,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type GraphQLInputType,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import type { FieldProblem } from '../../core/errors';

/** Our ids are UUIDs, stream ids (`lead-<uuid>`) and quote or activity ids: short, plain ASCII. */
const WELL_FORMED_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const problemWith = (value: string, isId: boolean): string | undefined => {
  if (value.includes('\u0000')) return 'must not contain the NUL character (U+0000)';
  if (LONE_SURROGATE.test(value)) return 'must be valid Unicode text (it contains a lone UTF-16 surrogate)';
  if (isId && !WELL_FORMED_ID.test(value)) {
    return 'is not a well-formed id (letters, digits, "_", ".", ":" and "-", at most 128 characters)';
  }
  return undefined;
};

/**
 * Every problem of a request's strings, each naming where it was: the argument path for a literal
 * (`captureLead.input.campaign`), the variable path for a variable (`$input.campaign`). Literals
 * are the document's (`literalProblems`, the same for every request of it); variables are this
 * request's (`variableProblems`).
 */
/** The problems of the document's own string literals: the same for every request of that document. */
export const literalProblems = (schema: GraphQLSchema, document: DocumentNode): FieldProblem[] => {
  const problems: FieldProblem[] = [];
  const typeInfo = new TypeInfo(schema);
  const path: string[] = [];
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field: {
        enter: (node) => void path.push(node.alias?.value ?? node.name.value),
        leave: () => void path.pop(),
      },
      Argument: {
        enter: (node) => void path.push(node.name.value),
        leave: () => void path.pop(),
      },
      ObjectField: {
        enter: (node) => void path.push(node.name.value),
        leave: () => void path.pop(),
      },
      StringValue(node) {
        const type = typeInfo.getInputType();
        const message = problemWith(node.value, type !== null && getNamedType(type) === GraphQLID);
        if (message) problems.push({ field: path.join('.'), message });
      },
    }),
  );
  return problems;
};

/** The problems of the strings in this request's variables. */
export const variableProblems = (
  schema: GraphQLSchema,
  operation: OperationDefinitionNode,
  variables: Readonly<Record<string, unknown>> | undefined,
): FieldProblem[] => {
  const problems: FieldProblem[] = [];
  for (const definition of operation.variableDefinitions ?? []) {
    const type = typeFromAST(schema, definition.type) as GraphQLInputType | undefined;
    const name = definition.variable.name.value;
    if (type && variables && name in variables) checkValue(variables[name], type, `$${name}`, problems);
  }
  return problems;
};

const checkValue = (value: unknown, type: GraphQLInputType, at: string, problems: FieldProblem[]): void => {
  if (value === null || value === undefined) return;
  if (isNonNullType(type)) return checkValue(value, type.ofType, at, problems);
  if (isListType(type)) {
    if (Array.isArray(value)) value.forEach((item, index) => checkValue(item, type.ofType, `${at}.${index}`, problems));
    else checkValue(value, type.ofType, at, problems);
    return;
  }
  if (isInputObjectType(type)) {
    if (typeof value !== 'object') return;
    const fields = type.getFields();
    for (const [key, member] of Object.entries(value as Record<string, unknown>)) {
      // Unknown members are the executor's to refuse; their strings are checked all the same.
      const field = fields[key];
      if (field) checkValue(member, field.type, `${at}.${key}`, problems);
      else checkAnything(member, `${at}.${key}`, problems);
    }
    return;
  }
  if (typeof value === 'string') {
    const message = problemWith(value, type === GraphQLID);
    if (message) problems.push({ field: at, message });
  } else {
    // A custom scalar (JSON) may hold strings anywhere inside.
    checkAnything(value, at, problems);
  }
};

const checkAnything = (value: unknown, at: string, problems: FieldProblem[]): void => {
  if (typeof value === 'string') {
    const message = problemWith(value, false);
    if (message) problems.push({ field: at, message });
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => checkAnything(item, `${at}.${index}`, problems));
  } else if (value !== null && typeof value === 'object') {
    for (const [key, member] of Object.entries(value)) {
      if (problemWith(key, false)) problems.push({ field: at, message: 'has a member name that is not valid text' });
      checkAnything(member, `${at}.${key}`, problems);
    }
  }
};

/** Every `Type.field` the document selects (the types as the schema resolves them). */
export const selectedFields = (schema: GraphQLSchema, document: DocumentNode): Set<string> => {
  const selected = new Set<string>();
  const typeInfo = new TypeInfo(schema);
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field(node) {
        const parent = typeInfo.getParentType();
        if (parent) selected.add(`${parent.name}.${node.name.value}`);
      },
    }),
  );
  return selected;
};

/** The operation's root fields (aliases resolved, fragments on the root type followed). */
export const rootFields = (document: DocumentNode, operation: OperationDefinitionNode): string[] => {
  const fragments = new Map(
    document.definitions.flatMap((definition) =>
      definition.kind === Kind.FRAGMENT_DEFINITION ? [[definition.name.value, definition] as const] : [],
    ),
  );
  const names: string[] = [];
  const seen = new Set<string>();
  const collect = (selections: OperationDefinitionNode['selectionSet']['selections']): void => {
    for (const selection of selections) {
      if (selection.kind === Kind.FIELD) names.push(selection.name.value);
      else if (selection.kind === Kind.INLINE_FRAGMENT) collect(selection.selectionSet.selections);
      else if (!seen.has(selection.name.value)) {
        seen.add(selection.name.value);
        const fragment = fragments.get(selection.name.value);
        if (fragment) collect(fragment.selectionSet.selections);
      }
    }
  };
  collect(operation.selectionSet.selections);
  return names;
};
