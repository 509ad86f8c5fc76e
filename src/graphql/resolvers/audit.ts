/**
 * The audit trail over GraphQL: `conversionTrace` (what a lead became, and every fact that took
 * part, read from the streams involved) and `auditTrail` (the whole log, filtered, page by page,
 * found through the audit index). Every event shown is read from the log itself: the recorded
 * fact, never a copy.
 */
import { Arg, Authorized, Ctx, ID, Int, Query, Resolver } from 'type-graphql';
import { getAccount } from '../../../projections/accounts/accountsReadModel';
import { findAuditEntries, type AuditEntry } from '../../../projections/audit/auditEventsReadModel';
import { getContact } from '../../../projections/contacts/contactsReadModel';
import { getLead } from '../../../projections/leads/leadView';
import { getOpportunity } from '../../../projections/opportunities/opportunitiesQueries';
import { readStreamOrEmpty } from '../../core/commandHandler';
import { NotFoundError } from '../../core/errors';
import type { EventStore, RecordedEvent } from '../../core/eventStore';
import { conversionFollowUps } from '../../domain/leads/conversion';
import { leadStreamId, type LeadConverted } from '../../domain/leads/lead';
import { connection, pageSize, toRecordedEventType } from '../shared/common';
import type { GraphQLContext } from '../shared/context';
import { toAccount } from '../types/accounts';
import {
  AUDIT_ENTITY_CATEGORIES,
  AuditFilter,
  ConversionTrace,
  RecordedEventConnection,
} from '../types/audit';
import { toContact } from '../types/contacts';
import { toLead } from './leads';
import { toOpportunity } from './opportunities';

@Authorized()
@Resolver()
export class AuditResolver {
  @Query(() => ConversionTrace, {
    nullable: true,
    description:
      'How a converted lead became an account, a contact and an opportunity, with every event that took part. ' +
      'Null for a lead that exists but has not been converted; NOT_FOUND when there is no such lead.',
  })
  async conversionTrace(
    @Arg('leadId', () => ID) leadId: string,
    @Ctx() context: GraphQLContext,
  ): Promise<ConversionTrace | null> {
    const { store, readDb } = context.app;
    const leadEvents = await readStreamOrEmpty(store, leadStreamId(leadId));
    if (leadEvents.length === 0) throw new NotFoundError('Lead', leadId);
    const decisionAt = leadEvents.findIndex((event) => event.type === 'LeadConverted');
    if (decisionAt === -1) return null;
    const decision = leadEvents[decisionAt] as RecordedEvent<'LeadConverted', LeadConverted['data']>;
    const caused = await causedBy(store, decision);

    const { accountId, contactId, opportunityId } = decision.data;
    const [lead, account, contact, opportunity] = await Promise.all([
      getLead(readDb, leadId),
      getAccount(readDb, accountId),
      getContact(readDb, contactId),
      opportunityId ? getOpportunity(readDb, opportunityId) : undefined,
    ]);
    if (!lead) throw new Error(`Lead ${leadId} is converted in the log but not yet in the read model`);
    return {
      lead: toLead(lead, context),
      account: account && toAccount(account),
      contact: contact && toContact(contact),
      opportunity: opportunity && toOpportunity(opportunity, context),
      conversion: toRecordedEventType(decision),
      events: [...leadEvents.slice(0, decisionAt + 1), ...caused].map(toRecordedEventType),
    };
  }

  @Query(() => RecordedEventConnection, {
    description: 'Every event of the log in the order it was recorded, filtered, with its full metadata',
  })
  async auditTrail(
    @Ctx() context: GraphQLContext,
    @Arg('filter', () => AuditFilter, { nullable: true }) filter?: AuditFilter,
    @Arg('first', () => Int, { nullable: true }) first?: number,
    @Arg('after', () => String, { nullable: true }) after?: string,
  ): Promise<RecordedEventConnection> {
    // On the report connection (on SQLite its own thread): a page of the trail may pass over most of
    // the log (a correlation id has no index) and its count reads every row it counts; on the main
    // thread, 25 ms for the whole trail of the insights history and 290 ms by correlation id held
    // every other request behind it.
    const page = await findAuditEntries(context.app.reportDb, {
      filter: filter && {
        actor: filter.actor ?? undefined,
        category: filter.entity ? AUDIT_ENTITY_CATEGORIES[filter.entity] : undefined,
        streamId: filter.streamId ?? undefined,
        types: filter.types ?? undefined,
        correlationId: filter.correlationId ?? undefined,
        recordedAt: range(filter.recordedAt),
        occurredAt: range(filter.occurredAt),
      },
      first: pageSize(first),
      after: after ?? undefined,
    });
    const events = await readEntries(context.app.store, page.nodes);
    return connection({ ...page, nodes: events }, toRecordedEventType);
  }
}

/**
 * The events the conversion caused, read from the streams the decision names (whatever else
 * those streams hold is not part of it), in log order.
 */
const causedBy = async (store: EventStore, decision: RecordedEvent<'LeadConverted', LeadConverted['data']>) => {
  const streams = conversionFollowUps(decision.data).map((followUp) => followUp.streamId);
  const events = (await Promise.all(streams.map((streamId) => readStreamOrEmpty(store, streamId)))).flat();
  return events
    .filter((event) => event.metadata.causationId === decision.id)
    .sort((a, b) => store.comparePositions(a.position, b.position));
};

const range = (value: { from?: Date | null; to?: Date | null } | null | undefined) =>
  value ? { from: value.from ?? undefined, to: value.to ?? undefined } : undefined;

/** The indexed events, read back from the log. */
const readEntries = (store: EventStore, entries: readonly AuditEntry[]): Promise<RecordedEvent[]> =>
  Promise.all(
    entries.map(async ({ streamId, revision }) => {
      const [event] = await store.readStream(streamId, { fromRevision: revision, maxCount: 1 });
      if (!event) throw new Error(`The audit index names ${streamId}@${revision}, which the log does not hold`);
      return event;
    }),
  );
