import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';
import { DateTimeResolver, JSONResolver } from 'graphql-scalars';

export const DateTimeScalar = DateTimeResolver;
export const JSONScalar = JSONResolver;

const DECIMAL = /^-?\d{1,18}(\.\d{1,8})?$/;

const parseDecimal = (value: unknown): string => {
  if (typeof value !== 'string' || !DECIMAL.test(value)) {
    throw new GraphQLError(
      `Decimal must be a string holding a base-10 number such as "1250.50", got ${JSON.stringify(value)}`,
      { extensions: { code: 'BAD_USER_INPUT' } },
    );
  }
  return value;
};

/** Money amounts travel as text so that no client or server float ever rounds them. */
export const DecimalScalar = new GraphQLScalarType<string, string>({
  name: 'Decimal',
  description: 'A base-10 number held in a string, e.g. "1250.50". Never a float.',
  serialize: (value) => String(value),
  parseValue: parseDecimal,
  parseLiteral: (ast) => parseDecimal(ast.kind === Kind.STRING ? ast.value : undefined),
});
