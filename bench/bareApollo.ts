/**
 * The baseline: Apollo Server over the same HTTP stack as the app (express 5,
 * @as-integrations/express5, express.json()) with a resolver that does nothing, so the
 * benchmark can tell what the CRM costs on top of the framework.
 * Run as a child process by bench/run.ts: PORT is required, GET /readyz answers when up.
 */
import http from 'node:http';
import { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';

/** The echo schema both baselines serve (bareApolloStandalone.ts too). */
export const typeDefs = `#graphql
  type Query { ok: Boolean }
  type Mutation { echo(input: String!): String! }
`;

export const resolvers = {
  Query: { ok: () => true },
  Mutation: { echo: (_: unknown, { input }: { input: string }) => input },
};

export async function startBareApollo(port: number): Promise<http.Server> {
  const apollo = new ApolloServer({ typeDefs, resolvers });
  await apollo.start();
  const app = express();
  app.get('/readyz', (_req, res) => {
    res.send('ok');
  });
  app.use('/graphql', express.json(), expressMiddleware(apollo));
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

if (require.main === module) {
  const port = Number(process.env.PORT);
  if (!Number.isInteger(port) || port <= 0) {
    process.stderr.write('bareApollo: set PORT to a free port\n');
    process.exit(2);
  }
  startBareApollo(port).then(
    () => process.stdout.write(`bare Apollo listening on http://127.0.0.1:${port}/graphql\n`),
    (error: unknown) => {
      process.stderr.write(`${String(error)}\n`);
      process.exit(1);
    },
  );
}
