/**
 * A peer for the write benchmark (issue 11): the plain CRUD server a team would write without
 * event sourcing. The same request as our captureLead: Apollo on express 5 with express.json(),
 * the bearer token verified (HS256, jose), the input validated, one INSERT into PostgreSQL
 * committed with synchronous_commit on, and the lead answered. No history, no read model, no
 * idempotency: what it does not do is what ours costs on top.
 * Run as a child process by bench/run.ts: PORT, DATABASE_URL, BENCH_PG_SCHEMA and
 * CRM_JWT_SECRET are required; GET /readyz answers when up.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import { GraphQLError } from 'graphql';
import { jwtVerify } from 'jose';
import pg from 'pg';

const typeDefs = `#graphql
  type Query { ok: Boolean }
  input PersonInput { firstName: String, lastName: String!, email: String, phone: String, jobTitle: String }
  input CompanyInput { name: String!, website: String }
  input CaptureLeadInput { source: String!, campaign: String, person: PersonInput, company: CompanyInput }
  type Lead { id: ID!, revision: Int!, status: String! }
  type CaptureLeadPayload { lead: Lead! }
  type Mutation { captureLead(input: CaptureLeadInput!): CaptureLeadPayload! }
`;

interface CaptureLeadInput {
  source: string;
  campaign?: string;
  person?: { firstName?: string; lastName: string; email?: string; phone?: string; jobTitle?: string };
  company?: { name: string; website?: string };
}

const SOURCES = new Set(['WEB_FORM', 'TRADE_FAIR', 'TELEMARKETING', 'EMAIL_CAMPAIGN', 'INBOUND_CALL', 'OTHER']);
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** The checks our API makes on the same input (lengths, known source, e-mail shape, a name). */
const validate = (input: CaptureLeadInput): void => {
  const problems: string[] = [];
  if (!SOURCES.has(input.source)) problems.push('source');
  if (!input.person?.lastName?.trim() && !input.company?.name?.trim()) problems.push('person.lastName or company.name');
  if (input.person?.email !== undefined && !EMAIL.test(input.person.email)) problems.push('person.email');
  for (const value of [input.campaign, input.person?.lastName, input.person?.firstName, input.company?.name]) {
    if (value !== undefined && value.length > 200) problems.push('length');
  }
  if (problems.length > 0) throw new GraphQLError(`Invalid input: ${problems.join(', ')}`, { extensions: { code: 'BAD_USER_INPUT' } });
};

export async function startCrudPeer(options: { port: number; connectionString: string; schema: string; secret: string }): Promise<http.Server> {
  const pool = new pg.Pool({ connectionString: options.connectionString, max: 10 });
  const schema = `"${options.schema.replace(/"/g, '')}"`;
  await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  await pool.query(`CREATE TABLE IF NOT EXISTS ${schema}.leads (
    id uuid PRIMARY KEY, revision int NOT NULL, status text NOT NULL, source text NOT NULL, campaign text,
    person jsonb, company jsonb, owner_id text NOT NULL, created_at timestamptz NOT NULL)`);
  const secret = new TextEncoder().encode(options.secret);

  const apollo = new ApolloServer<{ actor?: string }>({
    typeDefs,
    resolvers: {
      Query: { ok: () => true },
      Mutation: {
        async captureLead(_: unknown, { input }: { input: CaptureLeadInput }, context: { actor?: string }) {
          if (!context.actor) throw new GraphQLError('A valid bearer token is required', { extensions: { code: 'UNAUTHENTICATED' } });
          validate(input);
          const id = randomUUID();
          await pool.query(
            `INSERT INTO ${schema}.leads (id, revision, status, source, campaign, person, company, owner_id, created_at)
             VALUES ($1, 0, 'NEW', $2, $3, $4, $5, $6, now())`,
            [id, input.source, input.campaign ?? null, input.person ?? null, input.company ?? null, context.actor],
          );
          return { lead: { id, revision: 0, status: 'NEW' } };
        },
      },
    },
  });
  await apollo.start();
  const app = express();
  app.get('/readyz', (_req, res) => {
    res.send('ok');
  });
  app.use(
    '/graphql',
    express.json(),
    expressMiddleware(apollo, {
      context: async ({ req }) => {
        const token = /^Bearer (.+)$/.exec(req.header('authorization') ?? '')?.[1];
        if (!token) return {};
        try {
          const { payload } = await jwtVerify(token, secret, { algorithms: ['HS256'], requiredClaims: ['exp', 'sub'] });
          return { actor: payload.sub };
        } catch {
          return {};
        }
      },
    }),
  );
  const server = http.createServer(app);
  server.on('close', () => void pool.end());
  await new Promise<void>((resolve) => server.listen(options.port, '127.0.0.1', resolve));
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
