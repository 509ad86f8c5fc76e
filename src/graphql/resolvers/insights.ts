/**
 * The insights' GraphQL adapter: `kpis` reads the KPI fact tables (each KPI resolved only when
 * asked for), as known now or at `knownAt`; `retrospective` replays the event log and computes the
 * same KPIs in memory; `kpiRestatements` lists the facts recorded since a time that moved a
 * period's figures; a group's `list` is read from the lead lists read model, once per list and
 * request.
 */
import { Args, Authorized, Ctx, FieldResolver, Query, Resolver, Root } from 'type-graphql';
import * as kpiQueries from '../../../projections/kpis/kpiQueries';
import { getLeadList } from '../../../projections/leadLists/leadListsProjection';
import type { LeadListView } from '../../../projections/leadLists/leadListView';
import { ValidationError } from '../../core/errors';
import { instant } from '../../domain/insights/definitions';
import type * as kpis from '../../domain/insights/kpis';
import { kpiRestatementPage } from '../../useCases/kpiRestatements';
import { replayFacts } from '../../useCases/replayFacts';
import { kpisFromFacts } from '../../useCases/replayKpis';
import type { GraphQLContext } from '../shared/context';
import { pageSize } from '../shared/common';
import { askKpiSection } from '../shared/reports';
import {
  DisqualificationReasonKpi,
  KPI_FIELDS,
  KpiArgs,
  KpiGroup,
  KpiKnownAtArgs,
  KpiList,
  KpiReport,
  KpiRestatementArgs,
  KpiRestatements,
  LeadFunnelKpi,
  LossReasonKpi,
  PipelineValueKpi,
  RESTATED_KPI_NAMES,
  Retrospective,
  SalesOutcomeKpi,
  StageTimeKpi,
} from '../types/insights';
import { groupOf, present } from './insightsPresenter';

/** What the `kpis` query hands its field resolvers. */
interface KpiRoot extends Pick<KpiReport, 'from' | 'to' | 'groupBy' | 'currency' | 'knownAt'> {
  request: kpiQueries.KpiQuery;
}

const requestOf = (args: KpiArgs, context: GraphQLContext): kpis.KpiRequest => {
  if (args.from.getTime() >= args.to.getTime()) {
    throw new ValidationError([{ field: 'to', message: 'must be after from' }]);
  }
  return {
    from: instant(args.from),
    to: instant(args.to),
    groupBy: args.groupBy ?? [],
    currency: args.currency ?? context.app.pipeline.reportingCurrency,
  };
};

const headerOf = (request: kpis.KpiRequest) => ({
  from: new Date(request.from),
  to: new Date(request.to),
  groupBy: [...request.groupBy],
  currency: request.currency,
});

@Authorized()
@Resolver(() => KpiReport)
export class KpiResolver {
  @Query(() => KpiReport, {
    description: 'KPIs over a period [from, to) of business time, cut by source, campaign, owner, month, lead list and origin',
  })
  kpis(@Args(() => KpiKnownAtArgs) args: KpiKnownAtArgs, @Ctx() context: GraphQLContext): KpiRoot {
    const knownAt = args.knownAt ? instant(args.knownAt) : undefined;
    const request = { ...requestOf(args, context), knownAt };
    return { ...headerOf(request), knownAt: args.knownAt, request };
  }

  @FieldResolver(() => [LeadFunnelKpi], { description: KPI_FIELDS.leadFunnel })
  async leadFunnel(@Root() root: KpiRoot, @Ctx() context: GraphQLContext): Promise<LeadFunnelKpi[]> {
    return askKpiSection(context, 'leadFunnel', root.request, async (db, request) => present(context).leadFunnel(await kpiQueries.leadFunnel(db, request)));
  }

  @FieldResolver(() => [DisqualificationReasonKpi], { description: KPI_FIELDS.disqualificationReasons })
  async disqualificationReasons(@Root() root: KpiRoot, @Ctx() context: GraphQLContext): Promise<DisqualificationReasonKpi[]> {
    return askKpiSection(context, 'disqualificationReasons', root.request, async (db, request) => present(context).disqualificationReasons(await kpiQueries.disqualificationReasons(db, request)));
  }

  @FieldResolver(() => [LossReasonKpi], { description: KPI_FIELDS.lossReasons })
  async lossReasons(@Root() root: KpiRoot, @Ctx() context: GraphQLContext): Promise<LossReasonKpi[]> {
    return askKpiSection(context, 'lossReasons', root.request, async (db, request) => present(context).lossReasons(await kpiQueries.lossReasons(db, request)));
  }

  @FieldResolver(() => [SalesOutcomeKpi], { description: KPI_FIELDS.salesOutcomes })
  async salesOutcomes(@Root() root: KpiRoot, @Ctx() context: GraphQLContext): Promise<SalesOutcomeKpi[]> {
    return askKpiSection(context, 'salesOutcomes', root.request, async (db, request) => present(context).salesOutcomes(await kpiQueries.salesOutcomes(db, request)));
  }

  @FieldResolver(() => [StageTimeKpi], { description: KPI_FIELDS.timeInStage })
  async timeInStage(@Root() root: KpiRoot, @Ctx() context: GraphQLContext): Promise<StageTimeKpi[]> {
    const { pipeline } = context.app;
    return askKpiSection(context, 'timeInStage', root.request, async (db, request) => present(context).timeInStage(await kpiQueries.timeInStage(db, request, pipeline)));
  }

  @FieldResolver(() => [PipelineValueKpi], { description: KPI_FIELDS.pipelineValue })
  async pipelineValue(@Root() root: KpiRoot, @Ctx() context: GraphQLContext): Promise<PipelineValueKpi[]> {
    const { pipeline } = context.app;
    return askKpiSection(context, 'pipelineValue', root.request, async (db, request) => present(context).pipelineValue(await kpiQueries.pipelineValue(db, request, pipeline)));
  }
}

@Authorized()
@Resolver(() => Retrospective)
export class RetrospectiveResolver {
  @Query(() => Retrospective, {
    description:
      'The KPIs of kpis (notably the loss- and disqualification-reason breakdowns) recomputed by replaying the ' +
      'event log, optionally as known at knownAt',
  })
  async retrospective(
    @Args(() => KpiKnownAtArgs) args: KpiKnownAtArgs,
    @Ctx() context: GraphQLContext,
  ): Promise<Retrospective> {
    const request = requestOf(args, context);
    const knownAt = args.knownAt ? instant(args.knownAt) : undefined;
    const facts = await replayFacts(context.app.store, { knownAt, withLists: request.groupBy.includes('LIST') });
    const report = kpisFromFacts(facts, request, context.app.pipeline);
    const view = present(context);
    return {
      ...headerOf(request),
      knownAt: knownAt === undefined ? undefined : new Date(knownAt),
      eventsReplayed: facts.eventsReplayed,
      leadFunnel: view.leadFunnel(report.leadFunnel),
      disqualificationReasons: view.disqualificationReasons(report.disqualificationReasons),
      lossReasons: view.lossReasons(report.lossReasons),
      salesOutcomes: view.salesOutcomes(report.salesOutcomes),
      timeInStage: view.timeInStage(report.timeInStage),
      pipelineValue: view.pipelineValue(report.pipelineValue),
    };
  }
}

@Authorized()
@Resolver(() => KpiRestatements)
export class KpiRestatementResolver {
  @Query(() => KpiRestatements, {
    description:
      'For a period [from, to) of business time, every fact recorded after since that moved its KPIs (back-dated ' +
      'closes, reopens, conversions, disqualifications...): each figure before and after, the event and who recorded it',
  })
  async kpiRestatements(
    @Args(() => KpiRestatementArgs) args: KpiRestatementArgs,
    @Ctx() context: GraphQLContext,
  ): Promise<KpiRestatements> {
    const request = { ...requestOf(args, context), since: instant(args.since) };
    const { reportDb, store, pipeline } = context.app;
    // The versions are read where reports are (on SQLite, a thread of its own): over a long
    // period they are hundreds of thousands of rows, which held every other request on the main
    // connection.
    const page = await kpiRestatementPage({ readDb: reportDb, store, pipeline }, request, {
      first: pageSize(args.first),
      after: args.after ?? undefined,
    });
    return {
      ...headerOf(request),
      since: new Date(request.since),
      pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.endCursor },
      restatements: page.restatements.map(({ event, changes }) => ({
        eventId: event.id,
        eventType: event.type,
        streamId: event.streamId,
        revision: event.revision,
        occurredAt: new Date(event.occurredAt),
        recordedAt: new Date(event.recordedAt),
        actor: event.actor,
        changes: changes.map((change) => ({
          kpi: RESTATED_KPI_NAMES[change.kpi],
          group: groupOf(change.group),
          figure: change.figure,
          item: change.item ?? undefined,
          before: change.before ?? undefined,
          after: change.after ?? undefined,
        })),
      })),
    };
  }
}

/** The lists a request's groups name, each read once however many groups and sections name it. */
const listsRead = new WeakMap<GraphQLContext, Map<string, Promise<LeadListView | undefined>>>();

@Authorized()
@Resolver(() => KpiGroup)
export class KpiGroupResolver {
  @FieldResolver(() => KpiList, {
    nullable: true,
    description: 'Grouped by LIST: the list, as it is now (its name may have changed since the facts); null for no list',
  })
  async list(@Root() group: KpiGroup, @Ctx() context: GraphQLContext): Promise<KpiList | undefined> {
    if (group.listId === undefined) return undefined;
    const read = listsRead.get(context) ?? new Map<string, Promise<LeadListView | undefined>>();
    listsRead.set(context, read);
    if (!read.has(group.listId)) read.set(group.listId, getLeadList(context.app.readDb, group.listId));
    const view = await read.get(group.listId)!;
    return view && { id: view.id, name: view.name, kind: view.kind, archived: view.status === 'ARCHIVED' };
  }
}
