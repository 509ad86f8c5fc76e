/**
 * A peer for the write benchmark (issue 11): the plain CRUD server a team would write without
 * event sourcing. The same request as our captureLead (bench/peers/captureLeadApi.ts: Apollo on
 * express 5, the token verified, the input validated), then one INSERT into PostgreSQL committed
 * with synchronous_commit on, and the lead answered. No history, no read model, no
 * idempotency: what it does not do is what ours costs on top.
 * Run as a child process by bench/run.ts: PORT, DATABASE_URL, BENCH_PG_SCHEMA and
 * CRM_JWT_SECRET are required; GET /readyz answers when up.
 */
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import pg from 'pg';
import { serveCaptureLead } from './captureLeadApi';

export async function startCrudPeer(options: { port: number; connectionString: string; schema: string; secret: string }): Promise<http.Server> {
  const pool = new pg.Pool({ connectionString: options.connectionString, max: 10 });
  const schema = `"${options.schema.replace(/"/g, '')}"`;
  await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  await pool.query(`CREATE TABLE IF NOT EXISTS ${schema}.leads (
    id uuid PRIMARY KEY, revision int NOT NULL, status text NOT NULL, source text NOT NULL, campaign text,
    person jsonb, company jsonb, owner_id text NOT NULL, created_at timestamptz NOT NULL)`);

  const server = await serveCaptureLead({
    port: options.port,
    secret: options.secret,
    async capture(input, actor) {
      const id = randomUUID();
      await pool.query(
        `INSERT INTO ${schema}.leads (id, revision, status, source, campaign, person, company, owner_id, created_at)
         VALUES ($1, 0, 'NEW', $2, $3, $4, $5, $6, now())`,
        [id, input.source, input.campaign ?? null, input.person ?? null, input.company ?? null, actor],
      );
      return { id, revision: 0, status: 'NEW' };
    },
  });
  server.on('close', () => void pool.end());
  return server;
}

if (require.main === module) {
  const port = Number(process.env.PORT);
  const { DATABASE_URL, BENCH_PG_SCHEMA, CRM_JWT_SECRET } = process.env;
  if (!Number.isInteger(port) || port <= 0 || !DATABASE_URL || !BENCH_PG_SCHEMA || !CRM_JWT_SECRET) {
    process.stderr.write('crudPostgres: set PORT, DATABASE_URL, BENCH_PG_SCHEMA and CRM_JWT_SECRET\n');
    process.exit(2);
  }
  startCrudPeer({ port, connectionString: DATABASE_URL, schema: BENCH_PG_SCHEMA, secret: CRM_JWT_SECRET }).then(
    () => process.stdout.write(`plain CRUD peer listening on http://127.0.0.1:${port}/graphql\n`),
    (error: unknown) => {
      process.stderr.write(`${String(error)}\n`);
      process.exit(1);
    },
  );
}
