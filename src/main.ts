/** `npm start`: serves the API on the embedded SQLite store under ./data (or CRM_DATA_DIR). */
import 'reflect-metadata';
import path from 'node:path';
import { mintToken, resolveJwtSecret } from './identity/jwt';
import { startServer } from './server';

const main = async (): Promise<void> => {
  const env = process.env;
  const dataDir = path.resolve(env.CRM_DATA_DIR ?? 'data');
  const port = env.PORT === undefined ? 4000 : Number(env.PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`PORT must be a TCP port number, got "${env.PORT}"`);
  }

  const { secret, source } = resolveJwtSecret({ env, dataDir });
  const server = await startServer({ port, host: env.HOST, dataDir, env });
  console.log(`CRM GraphQL API ready at ${server.url} (events and read models in ${dataDir})`);

  if (source !== 'env') {
    const token = await mintToken({ sub: 'developer', roles: ['sales', 'manager', 'admin'], expiresIn: '12h' }, secret);
    console.log(`No CRM_JWT_SECRET set: using the development secret in ${path.join(dataDir, 'jwt-secret')}.`);
    console.log(`Development token (sub "developer", 12 h):\n  Authorization: Bearer ${token}`);
  }

  const shutdown = (signal: string) => {
    console.log(`${signal} received: finishing requests in flight, then stopping`);
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
};

main().catch((error: unknown) => {
  console.error(`Cannot start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
