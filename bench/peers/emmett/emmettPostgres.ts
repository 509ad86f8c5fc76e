/**
 * A peer for the write benchmark (issue 11): the same captureLead modelled on Emmett's
 * sample (samples/webApi/expressjs-with-postgresql), on Emmett 0.42's PostgreSQL
 * event store. The same request as ours and the CRUD peer's (../captureLeadApi.ts: Apollo on
 * express 5, the token verified, the input validated); then the lead's decider runs through
 * Emmett's command handler (read the stream, decide, append with the expected version), and one
 * inline Pongo projection writes the lead's read model in the transaction of the append, so the
 * read model has the lead when the mutation answers. synchronous_commit is the server's (on).
 *
 * Installed apart (./package.json): Emmett 0.42 wants uuid ^10 as a peer, the CRM uses uuid 11.
 * Run as a child process by bench/run.ts: PORT, DATABASE_URL and CRM_JWT_SECRET are required;
 * GET /readyz answers when up. DATABASE_URL names a database of its own, not a schema: Emmett
 * creates its functions only if no function of that name exists in any schema of the database
 * (it looks in pg_proc by name), so two peers in two schemas of one database break each other.
 */
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { type Command, DeciderCommandHandler, type Event, IllegalStateError, type ReadEvent, projections } from '@event-driven-io/emmett';
import {
  type PostgresReadEventMetadata,
  getPostgreSQLEventStore,
  pongoSingleStreamProjection,
} from '@event-driven-io/emmett-postgresql';
import { type CaptureLeadInput, serveCaptureLead } from '../captureLeadApi';

type LeadData = {
  leadId: string;
  source: string;
  campaign?: string;
  person?: CaptureLeadInput['person'];
  company?: CaptureLeadInput['company'];
  ownerId: string;
};
type CaptureLead = Command<'CaptureLead', LeadData>;
type LeadCaptured = Event<'LeadCaptured', LeadData>;
type LeadEvent = LeadCaptured;
type Lead = { status: 'NONE' } | { status: 'NEW'; ownerId: string };

/** The decider, pure as Emmett's samples have it: a lead is captured once. */
const decide = (command: CaptureLead, state: Lead): LeadEvent => {
  if (state.status !== 'NONE') throw new IllegalStateError(`Lead ${command.data.leadId} is already captured`);
  return { type: 'LeadCaptured', data: command.data };
};
const evolve = (state: Lead, event: LeadEvent): Lead =>
  event.type === 'LeadCaptured' ? { status: 'NEW', ownerId: event.data.ownerId } : state;
const initialState = (): Lead => ({ status: 'NONE' });

const handle = DeciderCommandHandler({ decide, evolve, initialState });

/** The read model: one document per lead, what our `lead(id)` answers from. */
type LeadDetails = LeadData & { revision: number; status: 'NEW' };
const LEAD_DETAILS_COLLECTION = 'lead_details';

const leadDetails = pongoSingleStreamProjection<LeadDetails, LeadEvent>({
  collectionName: LEAD_DETAILS_COLLECTION,
  canHandle: ['LeadCaptured'],
  getDocumentId: (event) => event.data.leadId,
  evolve: (document: LeadDetails | null, event: ReadEvent<LeadEvent, PostgresReadEventMetadata>): LeadDetails | null => {
    if (event.type !== 'LeadCaptured') return document;
    // Stream positions count from 1; our revisions from 0.
    return { ...event.data, revision: Number(event.metadata.streamPosition) - 1, status: 'NEW' };
  },
});

export async function startEmmettPeer(options: { port: number; connectionString: string; secret: string }): Promise<http.Server> {
  const eventStore = getPostgreSQLEventStore(options.connectionString, {
    projections: projections.inline([leadDetails]),
  });
  // Created before the first request, not by the first few concurrent ones.
  await eventStore.schema.migrate();

  const server = await serveCaptureLead({
    port: options.port,
    secret: options.secret,
    async capture(input, actor) {
      const leadId = randomUUID();
      const { nextExpectedStreamVersion } = await handle(eventStore, `lead-${leadId}`, {
        type: 'CaptureLead',
        data: { leadId, source: input.source, campaign: input.campaign, person: input.person, company: input.company, ownerId: actor },
      });
      return { id: leadId, revision: Number(nextExpectedStreamVersion) - 1, status: 'NEW' };
    },
  });
  server.on('close', () => void eventStore.close());
  return server;
}

if (require.main === module) {
  const port = Number(process.env.PORT);
  const { DATABASE_URL, CRM_JWT_SECRET } = process.env;
  if (!Number.isInteger(port) || port <= 0 || !DATABASE_URL || !CRM_JWT_SECRET) {
    process.stderr.write('emmettPostgres: set PORT, DATABASE_URL and CRM_JWT_SECRET\n');
    process.exit(2);
  }
  startEmmettPeer({ port, connectionString: DATABASE_URL, secret: CRM_JWT_SECRET }).then(
    () => process.stdout.write(`Emmett peer listening on http://127.0.0.1:${port}/graphql\n`),
    (error: unknown) => {
      process.stderr.write(`${String(error)}\n`);
      process.exit(1);
    },
  );
}
