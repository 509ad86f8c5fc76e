/**
 * Live updates over WebSocket (graphql-ws, see `subscriptions/server.ts`): each subscription
 * follows this instance's change feed, which hands an event on only once the read models include
 * it, and answers from the read models, as a query would. Each subscriber has a bounded queue:
 * one that does not keep up is disconnected (close code 4429 here: `SLOW_CONSUMER`).
 */
import { Arg, Authorized, Resolver, Root, Subscription } from 'type-graphql';
import { findLeads, type LeadFilter as LeadFilterQuery } from '../../../projections/leads/leadsQueries';
import { findOpportunities, type OpportunityFilter as OpportunityFilterQuery } from '../../../projections/opportunities/opportunitiesQueries';
import { openPipeline } from '../../../projections/kpis/kpiQueries';
import { ValidationError } from '../../core/errors';
import type { RecordedEvent } from '../../core/eventStore';
import { plainInput } from '../../core/json';
import { leadStreamId } from '../../domain/leads/lead';
import { leadScoreStreamId } from '../../domain/scoring/rescore';
import { opportunityStreamId } from '../../domain/opportunities/events';
import { toRecordedEventType } from '../shared/common';
import type { GraphQLContext, LiveConnection } from '../shared/context';
import { eventQueue } from '../subscriptions/eventQueue';
import { LeadFilter } from '../types/leads';
import { OpportunityFilter, PipelineFilter } from '../types/opportunities';
import { EventFilter, LeadChange, OpportunityChange, PipelineChange, RecordedEventType } from '../types/subscriptions';
import { toLead } from './leads';
import { toOpportunity, toPipelineReport } from './opportunities';

/** Close code for a subscriber dropped for not keeping up (graphql-ws leaves 4000-4999 to us). */
export const SLOW_CONSUMER = 4429;
/** Events read per page when `events` catches up from a position. */
const CATCH_UP_PAGE = 500;

const liveOf = (context: GraphQLContext): LiveConnection => {
  if (!context.live) throw new ValidationError([{ field: 'subscription', message: 'subscriptions are served over WebSocket (graphql-ws) on /graphql' }]);
  return context.live;
};

/** A subscriber's stream of answers, one per event `map` keeps. */
const follow = <T>(context: GraphQLContext, map: (event: RecordedEvent) => Promise<T | undefined> | T | undefined): AsyncIterableIterator<T> => {
  const live = liveOf(context);
  let stop = () => {};
  const queue = eventQueue<T>({
    map,
    maxQueued: live.maxQueued,
    maxLagMs: live.maxLagMs,
    onOverflow: () =>
      live.close(SLOW_CONSUMER, `Slow consumer: notifications waited more than ${live.maxLagMs / 1000} s, or more than ${live.maxQueued} of them`),
    onEnd: () => stop(),
  });
  stop = live.feed.listen(queue.push);
  return queue.iterator;
};

/** The iterable once the feed follows the log: a client that writes right after subscribing is told of it. */
const started = async <T>(context: GraphQLContext, iterable: AsyncIterable<T>): Promise<AsyncIterable<T>> => {
  await liveOf(context).feed.ready();
  return iterable;
};

/** A lead's events, and its automatic scores (its score stream), which change what a lead query reads. */
const leadIdOf = (event: RecordedEvent): string | undefined => {
  const leadId = (event.data as { leadId?: unknown }).leadId;
  return typeof leadId === 'string' && (event.streamId === leadStreamId(leadId) || event.streamId === leadScoreStreamId(leadId))
    ? leadId
    : undefined;
};

const opportunityIdOf = (event: RecordedEvent): string | undefined => {
  const opportunityId = (event.data as { opportunityId?: unknown }).opportunityId;
  return typeof opportunityId === 'string' && event.streamId === opportunityStreamId(opportunityId) ? opportunityId : undefined;
};

const hasCriteria = (filter: object): boolean => Object.values(filter).some((value) => value !== undefined && value !== null);

/**
 * The changes of one kind of entity: for each event on an entity's stream, the entity as the
 * read model has it, if it matches the filter. Subscribers with the same filter share one read
 * per event.
 */
const entityChanges = <Filter extends object, View, Answer extends object>(
  context: GraphQLContext,
  kind: string,
  filter: Filter,
  idOf: (event: RecordedEvent) => string | undefined,
  find: (filter: Filter & { id: string }) => Promise<{ nodes: View[] }>,
  answer: (view: View) => Answer,
) => {
  const { feed } = liveOf(context);
  const filterKey = hasCriteria(filter) ? JSON.stringify(filter) : '';
  return started(
    context,
    follow(context, async (event) => {
      const id = idOf(event);
      if (id === undefined) return undefined;
      const view = (await feed.shared(`${kind}:${event.id}:${filterKey}`, () => find({ ...filter, id }))).nodes[0];
      return view && { eventType: event.type, eventId: event.id, position: event.position, ...answer(view) };
    }),
  );
};

@Authorized()
@Resolver()
export class SubscriptionResolver {
  @Subscription(() => LeadChange, {
    description: 'Each change of a lead matching the filter (all leads without one), once the read models show it',
    subscribe: ({ args, context }) => {
      const ctx = context as GraphQLContext;
      return entityChanges(ctx, 'lead', plainInput((args.filter ?? {}) as LeadFilterQuery), leadIdOf, (filter) =>
        findLeads(ctx.app.readDb, { filter, first: 1 }),
        (view) => ({ lead: toLead(view, ctx) }),
      );
    },
  })
  leadChanged(
    @Root() change: LeadChange,
    @Arg('filter', () => LeadFilter, { nullable: true }) _filter?: LeadFilter,
  ): LeadChange {
    return change;
  }

  @Subscription(() => OpportunityChange, {
    description: 'Each change of an opportunity matching the filter (all without one), once the read models show it',
    subscribe: ({ args, context }) => {
      const ctx = context as GraphQLContext;
      return entityChanges(ctx, 'opportunity', plainInput((args.filter ?? {}) as OpportunityFilterQuery), opportunityIdOf, (filter) =>
        findOpportunities(ctx.app.readDb, { filter, first: 1 }),
        (view) => ({ opportunity: toOpportunity(view, ctx) }),
      );
    },
  })
  opportunityChanged(
    @Root() change: OpportunityChange,
    @Arg('filter', () => OpportunityFilter, { nullable: true }) _filter?: OpportunityFilter,
  ): OpportunityChange {
    return change;
  }

  @Subscription(() => PipelineChange, {
    description: 'The pipeline figures (for the filter) each time an opportunity event changes them',
    subscribe: ({ args, context }) => {
      const ctx = context as GraphQLContext;
      const filter = plainInput((args.filter ?? {}) as Record<string, string | undefined>);
      const { feed } = liveOf(ctx);
      let last: string | undefined;
      return started(ctx, follow(ctx, async (event) => {
        if (opportunityIdOf(event) === undefined) return undefined;
        const summary = await feed.shared(`pipeline:${event.id}:${JSON.stringify(filter)}`, () =>
          ctx.app.reports.report('openPipelineSummary', filter, (db) => openPipeline(db, ctx.app.pipeline, filter)),
        );
        const figures = JSON.stringify(summary);
        if (figures === last) return undefined;
        last = figures;
        return { eventType: event.type, position: event.position, pipeline: toPipelineReport(summary) };
      }));
    },
  })
  pipelineChanged(
    @Root() change: PipelineChange,
    @Arg('filter', () => PipelineFilter, { nullable: true }) _filter?: PipelineFilter,
  ): PipelineChange {
    return change;
  }

  @Subscription(() => RecordedEventType, {
    description:
      'Every event (of the types, on the streams, asked for) after `after` (a position from an earlier event; the start of ' +
      'the log without it), then each new one as the read models take it in. To resume after a disconnect, send the ' +
      'position of the last event received: nothing is lost or repeated',
    subscribe: ({ args, context }) => {
      const ctx = context as GraphQLContext;
      const filter = plainInput((args.filter ?? {}) as { types?: string[]; streamPrefix?: string });
      const after = (args.after ?? undefined) as string | undefined;
      const wanted = (event: RecordedEvent) =>
        (filter.types === undefined || filter.types.includes(event.type)) &&
        (filter.streamPrefix === undefined || event.streamId.startsWith(filter.streamPrefix));
      return started(ctx, catchUpThenFollow(ctx, after, wanted));
    },
  })
  events(
    @Root() event: RecordedEvent,
    @Arg('filter', () => EventFilter, { nullable: true }) _filter?: EventFilter,
    @Arg('after', () => String, { nullable: true }) _after?: string,
  ): RecordedEventType {
    return toRecordedEventType(event);
  }
}

/**
 * The log from `after` up to what the feed has handed on, then the feed's events: live events
 * arriving during the catch-up wait in the queue, and those already read are skipped by position.
 */
const catchUpThenFollow = (context: GraphQLContext, after: string | undefined, wanted: (event: RecordedEvent) => boolean): AsyncIterable<RecordedEvent> => {
  const { store } = context.app;
  let position = after;
  let caughtUp = false;
  const pageQueue: RecordedEvent[] = [];
  const live = follow<RecordedEvent>(context, (event) => {
    if (position !== undefined && store.comparePositions(event.position, position) <= 0) return undefined;
    position = event.position;
    return wanted(event) ? event : undefined;
  });
  const liveIterator = live[Symbol.asyncIterator]();
  const iterator: AsyncIterableIterator<RecordedEvent> = {
    async next() {
      while (!caughtUp) {
        const next = pageQueue.shift();
        if (next) return { done: false, value: next };
        const page = await store.readAll({ fromPosition: position, maxCount: CATCH_UP_PAGE });
        if (page.length === 0) {
          caughtUp = true;
          break;
        }
        position = page.at(-1)!.position;
        pageQueue.push(...page.filter(wanted));
      }
      return liveIterator.next();
    },
    async return() {
      return (await liveIterator.return?.()) ?? { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
};
