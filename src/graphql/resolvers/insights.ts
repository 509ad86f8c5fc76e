/**
 * The insights' GraphQL adapter: `kpis` reads the KPI fact tables (each KPI resolved only when
 * asked for), `retrospective` replays the event log and computes the same KPIs in memory; a
 * group's `list` is read from the lead lists read model, once per list and request.
 */
import { Args, Authorized, Ctx, FieldResolver, Query, Resolver, Root } from 'type-graphql';
import * as kpiQueries from '../../../projections/kpis/kpiQueries';
import { getLeadList } from '../../../projections/leadLists/leadListsProjection';
import type { LeadListView } from '../../../projections/leadLists/leadListView';
import { ValidationError } from '../../core/errors';
import { instant } from '../../domain/insights/definitions';
import type * as kpis from '../../domain/insights/kpis';
import { replayFacts } from '../../useCases/replayFacts';
import { kpisFromFacts } from '../../useCases/replayKpis';
import type { GraphQLContext } from '../shared/context';
import {
  DisqualificationReasonKpi,
  KPI_FIELDS,
  KpiArgs,
  KpiGroup,
  KpiList,
  KpiReport,
  LeadFunnelKpi,
  LossReasonKpi,
  PipelineValueKpi,
  Retrospective,
  RetrospectiveArgs,
  SalesOutcomeKpi,
  StageTimeKpi,
} from '../types/insights';
import { present } from './insightsPresenter';

/** What the `kpis` query hands its field resolvers. */
interface KpiRoot extends Pick<KpiReport, 'from' | 'to' | 'groupBy' | 'currency'> {
  request: kpis.KpiRequest;
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
  kpis(@Args(() => KpiArgs) args: KpiArgs, @Ctx() context: GraphQLContext): KpiRoot {
    const request = requestOf(args, context);
    return { ...headerOf(request), request };
  }

  @FieldResolver(() => [LeadFunnelKpi], { description: KPI_FIELDS.leadFunnel })
  async leadFunnel(@Root() root: KpiRoot, @Ctx() context: GraphQLContext): Promise<LeadFunnelKpi[]> {
    return present(context).leadFunnel(await kpiQueries.leadFunnel(context.app.readDb, root.request));
  }

  @FieldResolver(() => [DisqualificationReasonKpi], { description: KPI_FIELDS.disqualificationReasons })
  async disqualificationReasons(@Root() root: KpiRoot, @Ctx() context: GraphQLContext): Promise<DisqualificationReasonKpi[]> {
    return present(context).disqualificationReasons(await kpiQueries.disqualificationReasons(context.app.readDb, root.request));
  }

  @FieldResolver(() => [LossReasonKpi], { description: KPI_FIELDS.lossReasons })
  async lossReasons(@Root() root: KpiRoot, @Ctx() context: GraphQLContext): Promise<LossReasonKpi[]> {
    return present(context).lossReasons(await kpiQueries.lossReasons(context.app.readDb, root.request));
  }

  @FieldResolver(() => [SalesOutcomeKpi], { description: KPI_FIELDS.salesOutcomes })
  async salesOutcomes(@Root() root: KpiRoot, @Ctx() context: GraphQLContext): Promise<SalesOutcomeKpi[]> {
    return present(context).salesOutcomes(await kpiQueries.salesOutcomes(context.app.readDb, root.request));
  }

  @FieldResolver(() => [StageTimeKpi], { description: KPI_FIELDS.timeInStage })
  async timeInStage(@Root() root: KpiRoot, @Ctx() context: GraphQLContext): Promise<StageTimeKpi[]> {
    const { readDb, pipeline } = context.app;
    return present(context).timeInStage(await kpiQueries.timeInStage(readDb, root.request, pipeline));
  }

  @FieldResolver(() => [PipelineValueKpi], { description: KPI_FIELDS.pipelineValue })
  async pipelineValue(@Root() root: KpiRoot, @Ctx() context: GraphQLContext): Promise<PipelineValueKpi[]> {
    const { readDb, pipeline } = context.app;
    return present(context).pipelineValue(await kpiQueries.pipelineValue(readDb, root.request, pipeline));
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
    @Args(() => RetrospectiveArgs) args: RetrospectiveArgs,
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
