/**
 * Requests that must succeed: the answer's data, the test failing with the errors when there are
 * any. `client` is read at each request, as suites start their server in `beforeAll`.
 */
import { expect } from 'vitest';
import type { GraphQLClient } from './testServer';

export const succeeding =
  (client: () => GraphQLClient, options: Parameters<GraphQLClient['gql']>[2]) =>
  async (query: string, variables: Record<string, unknown> = {}): Promise<Record<string, any>> => {
    const response = await client().gql(query, variables, options);
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    return response.data!;
  };
