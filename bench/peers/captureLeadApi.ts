/**
 * What every write-benchmark peer of issue 11 does per request before and after its own
 * storage: Apollo on express 5 with express.json(), the bearer token verified (HS256, jose), the
 * captureLead input validated, and the lead answered. Shared so that the peers differ only in
 * how they store the lead, which is what the benchmark compares.
 */
import http from 'node:http';
import { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import { GraphQLError } from 'graphql';
import { jwtVerify } from 'jose';

const typeDefs = `#graphql
  type Query { ok: Boolean }
  input PersonInput { firstName: String, lastName: String!, email: String, phone: String, jobTitle: String }
  input CompanyInput { name: String!, website: String }
  input CaptureLeadInput { source: String!, campaign: String, person: PersonInput, company: CompanyInput }
  type Lead { id: ID!, revision: Int!, status: String! }
  type CaptureLeadPayload { lead: Lead! }
  type Mutation { captureLead(input: CaptureLeadInput!): CaptureLeadPayload! }
`;

export interface CaptureLeadInput {
  source: string;
  campaign?: string;
  person?: { firstName?: string; lastName: string; email?: string; phone?: string; jobTitle?: string };
  company?: { name: string; website?: string };
}

export interface CapturedLead {
  id: string;
  revision: number;
  status: string;
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

/**
 * Serves POST /graphql (captureLead, which runs `capture` once the token and the input passed)
 * and GET /readyz on 127.0.0.1:`port`. `capture` gets a validated input and the token's `sub`.
 */
export async function serveCaptureLead(options: {
  port: number;
  secret: string;
  capture: (input: CaptureLeadInput, actor: string) => Promise<CapturedLead>;
}): Promise<http.Server> {
  const secret = new TextEncoder().encode(options.secret);
  const apollo = new ApolloServer<{ actor?: string }>({
    typeDefs,
    resolvers: {
      Query: { ok: () => true },
      Mutation: {
        async captureLead(_: unknown, { input }: { input: CaptureLeadInput }, context: { actor?: string }) {
          if (!context.actor) throw new GraphQLError('A valid bearer token is required', { extensions: { code: 'UNAUTHENTICATED' } });
          validate(input);
          return { lead: await options.capture(input, context.actor) };
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
  await new Promise<void>((resolve) => server.listen(options.port, '127.0.0.1', resolve));
  return server;
}
