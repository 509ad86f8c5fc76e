/**
 * Issue 11's limit: Apollo Server on node:http alone, as `startStandaloneServer` serves it (the
 * body read and parsed, `executeHTTPGraphQLRequest`, the answer written), with a resolver that
 * does nothing. Not `startStandaloneServer` itself only because the bench needs GET /readyz.
 * Run as a child process by bench/run.ts (`--only standalone`): PORT is required.
 */
import http from 'node:http';
import { ApolloServer, HeaderMap } from '@apollo/server';
import { resolvers, typeDefs } from './bareApollo';

export async function startStandaloneApollo(port: number): Promise<http.Server> {
  const apollo = new ApolloServer({ typeDefs, resolvers });
  await apollo.start();
  const server = http.createServer((request, response) => {
    if (request.method === 'GET' && request.url === '/readyz') {
      response.end('ok');
      return;
    }
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const headers = new HeaderMap();
      for (const [name, value] of Object.entries(request.headers)) {
        if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
      }
      const text = Buffer.concat(chunks).toString('utf8');
      apollo
        .executeHTTPGraphQLRequest({
          httpGraphQLRequest: {
            method: request.method ?? 'GET',
            headers,
            search: new URL(request.url ?? '/', 'http://localhost').search,
            body: text === '' ? undefined : (JSON.parse(text) as unknown),
          },
          context: async () => ({}),
        })
        .then(async (answer) => {
          for (const [name, value] of answer.headers) response.setHeader(name, value);
          response.statusCode = answer.status ?? 200;
          if (answer.body.kind === 'complete') {
            response.end(answer.body.string);
            return;
          }
          for await (const chunk of answer.body.asyncIterator) response.write(chunk);
          response.end();
        })
        .catch((error: unknown) => {
          response.statusCode = 500;
          response.end(String(error));
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

if (require.main === module) {
  const port = Number(process.env.PORT);
  if (!Number.isInteger(port) || port <= 0) {
    process.stderr.write('bareApolloStandalone: set PORT to a free port\n');
    process.exit(2);
  }
  startStandaloneApollo(port).then(
    () => process.stdout.write(`standalone Apollo listening on http://127.0.0.1:${port}/graphql\n`),
    (error: unknown) => {
      process.stderr.write(`${String(error)}\n`);
      process.exit(1);
    },
  );
}
