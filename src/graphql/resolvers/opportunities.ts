/** The opportunity's GraphQL adapter: mutation → command → read model; queries → read model. */
import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { type ActivityView, type OpportunityView, type QuoteView } from '../../../projections/opportunities/opportunitiesProjection';
import { activitiesOf, findOpportunities, getOpportunity, quotesOf, stageHistoryOf } from '../../../projections/opportunities/opportunitiesQueries';
import { openPipeline } from '../../../projections/kpis/kpiQueries';
import { pipelineAsOf } from '../../../projections/pipelineHistory/pipelineHistoryReadModel';
import { ValidationError } from '../../core/errors';
import { plainInput } from '../../core/json';
import type { OpportunityCommand } from '../../domain/opportunities/decide';
import type { OpportunityEvent } from '../../domain/opportunities/events';
import { opportunityStreamId } from '../../domain/opportunities/events';
import { weightedAmount } from '../../domain/opportunities/money';
import type { PipelineSummary } from '../../domain/opportunities/pipelineReport';
import type { OpportunityState } from '../../domain/opportunities/opportunity';
import {
  isTimeTravel,
  opportunityAsOf,
  TIME_TRAVEL_DESCRIPTION
} from '../../useCases/asOf';
import { opportunityAtRevision, type OpportunityAtRevision } from '../../useCases/atRevision';
import { requireAccount, requireContact } from '../../useCases/referenceChecks';
import { connection, pageSize } from '../shared/common';
import { ownedByCaller, requireOwnOwnerId } from '../shared/ownership';
import type { GraphQLContext } from '../shared/context';
import { askReport } from '../shared/reports';
import { mutate, newEntityIds, requireActor, type EntityKind } from '../shared/runCommand';
import { DateTimeScalar } from '../shared/scalars';
import {
  Activity,
  AddQuoteInput,
  AddQuotePayload,
  ChangeQuoteStatusInput,
  ChangeQuoteStatusPayload,
  CloseOpportunityInput,
  CloseOpportunityPayload,
  CompleteActivityInput,
  CompleteActivityPayload,
  MoveOpportunityStageInput,
  MoveOpportunityStagePayload,
  OpenOpportunityInput,
  OpenOpportunityPayload,
  Opportunity,
  OpportunityConnection,
  OpportunityFilter,
  OpportunityStageVisit,
  PipelineFilter,
  PipelineReport,
  PipelineStage,
  Quote,
  ReopenActivityInput,
  ReopenActivityPayload,
  ReopenOpportunityInput,
  ReopenOpportunityPayload,
  ScheduleActivityInput,
  ScheduleActivityPayload,
  UpdateOpportunityInput,
  UpdateOpportunityPayload,
  type OpportunityFields,
} from '../types/opportunities';



/** Opportunitys as `mutate` handles them. */
const OPPORTUNITY: EntityKind<
  OpportunityState,
  OpportunityCommand,
  OpportunityEvent,
  OpportunityAtRevision,
  { opportunity: OpportunityFields }
> = {
  name: 'Opportunity',
  readModels: ['opportunities'],
  decider: (app) => app.opportunityDecider,
  streamId: opportunityStreamId,
  read: getOpportunity,
  readAt: (app, id, at) => opportunityAtRevision(app.store, id, at.revision),
  // A folded one brings its quotes, activities and stage history of that revision along.
  payload: (view, context) => ({ opportunity: { ...toOpportunity(view, context), snapshot: view.snapshot } }),
  authorize: (context) => ownedByCaller(context, 'opportunity'),
};

@Authorized()
@Resolver(() => Opportunity)
export class OpportunityResolver {
  @Mutation(() => OpenOpportunityPayload)
  async openOpportunity(
    @Arg('input', () => OpenOpportunityInput) input: OpenOpportunityInput,
    @Ctx() context: GraphQLContext,
  ) {
    const { commandId, id: opportunityId } = newEntityIds(context, 'OpenOpportunity', input.idempotencyKey, 'opportunity');
    const plain = plainInput(input);
    const { idempotencyKey: _key, ...data } = plain;
    requireOwnOwnerId(context, data.ownerId, 'opportunity');
    await requireAccount(context.app.store, data.accountId);
    if (data.contactId) await requireContactOf(context, data.contactId, data.accountId);
    const ownerId = data.ownerId ?? requireActor(context);
    const command: OpportunityCommand = { type: 'OpenOpportunity', data: { ...data, opportunityId, ownerId } };
    return mutate(context, OPPORTUNITY, opportunityId, plain, command, { isNew: true, commandId });
  }

  @Mutation(() => MoveOpportunityStagePayload)
  async moveOpportunityStage(
    @Arg('input', () => MoveOpportunityStageInput) input: MoveOpportunityStageInput,
    @Ctx() context: GraphQLContext,
  ) {
    const plain = plainInput(input);
    const { opportunityId, stage } = plain;
    return mutate(context, OPPORTUNITY, opportunityId, plain, { type: 'MoveOpportunityStage', data: { opportunityId, stage } });
  }

  @Mutation(() => UpdateOpportunityPayload)
  async updateOpportunity(
    @Arg('input', () => UpdateOpportunityInput) input: UpdateOpportunityInput,
    @Ctx() context: GraphQLContext,
  ) {
    const plain = plainInput(input);
    const { opportunityId, name, amount, expectedCloseDate, probability, ownerId } = plain;
    requireOwnOwnerId(context, ownerId, 'opportunity');
    return mutate(context, OPPORTUNITY, opportunityId, plain, {
      type: 'UpdateOpportunity',
      data: { opportunityId, name, amount, expectedCloseDate, probability, ownerId },
    });
  }

  @Mutation(() => AddQuotePayload)
  async addQuote(@Arg('input', () => AddQuoteInput) input: AddQuoteInput, @Ctx() context: GraphQLContext) {
    const { commandId, id: quoteId } = newEntityIds(context, 'AddQuote', input.idempotencyKey, 'quote');
    const plain = plainInput(input);
    const { opportunityId, amount, validUntil, description } = plain;
    const { opportunity } = await mutate(context, OPPORTUNITY, opportunityId, plain, {
      type: 'AddQuote',
      data: { opportunityId, quoteId, amount, validUntil, description },
    }, { commandId });
    return { opportunity, quote: await findQuote(context, opportunity, quoteId) };
  }

  @Mutation(() => ChangeQuoteStatusPayload)
  async changeQuoteStatus(
    @Arg('input', () => ChangeQuoteStatusInput) input: ChangeQuoteStatusInput,
    @Ctx() context: GraphQLContext,
  ) {
    const plain = plainInput(input);
    const { opportunityId, quoteId, status } = plain;
    const { opportunity } = await mutate(context, OPPORTUNITY, opportunityId, plain, {
      type: 'ChangeQuoteStatus',
      data: { opportunityId, quoteId, status },
    });
    return { opportunity, quote: await findQuote(context, opportunity, quoteId) };
  }

  @Mutation(() => ScheduleActivityPayload)
  async scheduleActivity(
    @Arg('input', () => ScheduleActivityInput) input: ScheduleActivityInput,
    @Ctx() context: GraphQLContext,
  ) {
    const { commandId, id: activityId } = newEntityIds(context, 'ScheduleActivity', input.idempotencyKey, 'activity');
    const plain = plainInput(input);
    const { opportunityId, kind, subject, notes } = plain;
    const dueAt = input.dueAt ? input.dueAt.toISOString() : undefined;
    const { opportunity } = await mutate(context, OPPORTUNITY, opportunityId, plain, {
      type: 'ScheduleActivity',
      data: { opportunityId, activityId, kind, subject, dueAt, notes },
    }, { commandId });
    return { opportunity, activity: await findActivity(context, opportunity, activityId) };
  }

  @Mutation(() => CompleteActivityPayload)
  async completeActivity(
    @Arg('input', () => CompleteActivityInput) input: CompleteActivityInput,
    @Ctx() context: GraphQLContext,
  ) {
    const plain = plainInput(input);
    const { opportunityId, activityId, notes } = plain;
    const { opportunity } = await mutate(context, OPPORTUNITY, opportunityId, plain, {
      type: 'CompleteActivity',
      data: { opportunityId, activityId, notes },
    });
    return { opportunity, activity: await findActivity(context, opportunity, activityId) };
  }

  @Mutation(() => ReopenActivityPayload)
  async reopenActivity(
    @Arg('input', () => ReopenActivityInput) input: ReopenActivityInput,
    @Ctx() context: GraphQLContext,
  ) {
    const plain = plainInput(input);
    const { opportunityId, activityId } = plain;
    const { opportunity } = await mutate(context, OPPORTUNITY, opportunityId, plain, {
      type: 'ReopenActivity',
      data: { opportunityId, activityId },
    });
    return { opportunity, activity: await findActivity(context, opportunity, activityId) };
  }

  @Mutation(() => CloseOpportunityPayload)
  async closeOpportunity(
    @Arg('input', () => CloseOpportunityInput) input: CloseOpportunityInput,
    @Ctx() context: GraphQLContext,
  ) {
    const plain = plainInput(input);
    const { opportunityId, outcome, amount, lossReason, competitor, notes } = plain;
    return mutate(context, OPPORTUNITY, opportunityId, plain, {
      type: 'CloseOpportunity',
      data: { opportunityId, outcome, amount, lossReason, competitor, notes },
    });
  }

  @Mutation(() => ReopenOpportunityPayload)
  async reopenOpportunity(
    @Arg('input', () => ReopenOpportunityInput) input: ReopenOpportunityInput,
    @Ctx() context: GraphQLContext,
  ) {
    const plain = plainInput(input);
    const { opportunityId, reason } = plain;
    return mutate(context, OPPORTUNITY, opportunityId, plain, { type: 'ReopenOpportunity', data: { opportunityId, reason } });
  }

  @Query(() => Opportunity, { nullable: true, description: `One opportunity. ${TIME_TRAVEL_DESCRIPTION}` })
  async opportunity(
    @Arg('id', () => ID) id: string,
    @Ctx() context: GraphQLContext,
    @Arg('asOf', () => DateTimeScalar, { nullable: true }) asOf?: Date,
    @Arg('knownAt', () => DateTimeScalar, { nullable: true }) knownAt?: Date,
  ): Promise<OpportunityFields | undefined> {
    const window = { asOf: asOf ?? undefined, knownAt: knownAt ?? undefined };
    if (isTimeTravel(window)) {
      const snapshot = await opportunityAsOf(context.app.store, id, window);
      return snapshot && { ...toOpportunity(snapshot.view, context), snapshot };
    }
    const view = await getOpportunity(context.app.readDb, id);
    return view && toOpportunity(view, context);
  }

  @Query(() => OpportunityConnection)
  async opportunities(
    @Ctx() context: GraphQLContext,
    @Arg('filter', () => OpportunityFilter, { nullable: true }) filter?: OpportunityFilter,
    @Arg('first', () => Int, { nullable: true }) first?: number,
    @Arg('after', () => String, { nullable: true }) after?: string,
  ) {
    const page = await findOpportunities(context.app.readDb, {
      filter: filter ? plainInput({ ...filter }) : undefined,
      first: pageSize(first),
      after: after ?? undefined,
      counts: context.app.reports,
    });
    return connection(page, (view) => toOpportunity(view, context));
  }

  @Query(() => PipelineReport, {
    description: `Open opportunities by stage, filterable by owner and by account (or grouping). ${TIME_TRAVEL_DESCRIPTION}`,
  })
  async pipeline(
    @Ctx() context: GraphQLContext,
    @Arg('filter', () => PipelineFilter, { nullable: true }) filter?: PipelineFilter,
    @Arg('asOf', () => DateTimeScalar, { nullable: true }) asOf?: Date,
    @Arg('knownAt', () => DateTimeScalar, { nullable: true }) knownAt?: Date,
  ): Promise<PipelineReport> {
    const window = { asOf: asOf ?? undefined, knownAt: knownAt ?? undefined };
    const plainFilter = filter ? plainInput({ ...filter }) : {};
    const { pipeline } = context.app;
    // Remembered as answered: the report, not only its rows (see projections/reportCache.ts).
    return isTimeTravel(window)
      ? askReport(context, 'pipelineReportAsOf', { window, plainFilter }, async (db) => toPipelineReport(await pipelineAsOf(db, pipeline, window, plainFilter)))
      : askReport(context, 'pipelineReport', plainFilter, async (db) => toPipelineReport(await openPipeline(db, pipeline, plainFilter)));
  }

  @Query(() => [PipelineStage], { description: 'The configured stages, in order' })
  pipelineStages(@Ctx() context: GraphQLContext): PipelineStage[] {
    return context.app.pipeline.stages.map((stage) => ({ ...stage }));
  }

  @FieldResolver(() => [Quote])
  async quotes(@Root() opportunity: OpportunityFields, @Ctx() context: GraphQLContext): Promise<Quote[]> {
    return (opportunity.snapshot?.quotes ?? (await quotesOf(context.app.readDb, opportunity.id))).map(toQuote);
  }

  @FieldResolver(() => [Activity])
  async activities(@Root() opportunity: OpportunityFields, @Ctx() context: GraphQLContext): Promise<Activity[]> {
    return (opportunity.snapshot?.activities ?? (await activitiesOf(context.app.readDb, opportunity.id))).map(toActivity);
  }

  @FieldResolver(() => [OpportunityStageVisit])
  async stageHistory(
    @Root() opportunity: OpportunityFields,
    @Ctx() context: GraphQLContext,
  ): Promise<OpportunityStageVisit[]> {
    const visits = opportunity.snapshot?.stageHistory ?? (await stageHistoryOf(context.app.readDb, opportunity.id));
    return visits.map((visit) => ({
      stage: visit.stage,
      label: context.app.pipeline.stage(visit.stage)?.label ?? visit.stage,
      probability: visit.probability,
      enteredAt: new Date(visit.enteredAt),
      leftAt: toDate(visit.leftAt),
    }));
  }
}

/** An opportunity's contact is someone of its account: a contact elsewhere is refused, not moved. */
const requireContactOf = async (context: GraphQLContext, contactId: string, accountId: string): Promise<void> => {
  const contact = await requireContact(context.app.store, context.app.contactDecider, contactId);
  if (contact.accountId !== accountId) {
    throw new ValidationError([
      {
        field: 'contactId',
        message: `contact ${contactId} belongs to ${contact.accountId ? `account ${contact.accountId}` : 'no account'}; move it to account ${accountId} first`,
      },
    ]);
  }
};

/** The quote as the answered opportunity has it: from its snapshot when it was rebuilt at its revision. */
const findQuote = async (context: GraphQLContext, opportunity: OpportunityFields, quoteId: string): Promise<Quote> => {
  const quotes = opportunity.snapshot?.quotes ?? (await quotesOf(context.app.readDb, opportunity.id));
  const quote = quotes.find((q) => q.id === quoteId);
  if (!quote) throw new Error(`Quote ${quoteId} is missing from the read model`);
  return toQuote(quote);
};

const findActivity = async (context: GraphQLContext, opportunity: OpportunityFields, activityId: string): Promise<Activity> => {
  const activities = opportunity.snapshot?.activities ?? (await activitiesOf(context.app.readDb, opportunity.id));
  const activity = activities.find((a) => a.id === activityId);
  if (!activity) throw new Error(`Activity ${activityId} is missing from the read model`);
  return toActivity(activity);
};

const toDate = (iso: string | null): Date | undefined => (iso ? new Date(iso) : undefined);

export const toOpportunity = (view: OpportunityView, context: GraphQLContext): OpportunityFields => ({
  id: view.id,
  revision: view.revision,
  status: view.status,
  name: view.name,
  accountId: view.accountId,
  contactId: view.contactId ?? undefined,
  stage: view.stage,
  stageLabel: context.app.pipeline.stage(view.stage)?.label ?? view.stage,
  probability: view.probability,
  amount: view.amount ?? undefined,
  weightedAmount: view.amount && view.status === 'OPEN' ? weightedAmount(view.amount, view.probability) : undefined,
  expectedCloseDate: view.expectedCloseDate ?? undefined,
  ownerId: view.ownerId ?? undefined,
  fromLeadId: view.fromLeadId ?? undefined,
  openedAt: new Date(view.openedAt),
  openedBy: view.openedBy,
  updatedAt: new Date(view.updatedAt),
  stageEnteredAt: new Date(view.stageEnteredAt),
  closedAt: toDate(view.closedAt),
  closeNotes: view.closeNotes ?? undefined,
  lossReason: view.lossReason
    ? { code: view.lossReason, label: context.app.catalogs.lossReasons.label(view.lossReason) ?? view.lossReason }
    : undefined,
  competitor: view.competitor ?? undefined,
  reopenedAt: toDate(view.reopenedAt),
  reopenReason: view.reopenReason ?? undefined,
  personalDataErased: view.personalDataErased,
});

const toQuote = (view: QuoteView): Quote => ({
  id: view.id,
  amount: view.amount,
  validUntil: view.validUntil ?? undefined,
  description: view.description ?? undefined,
  status: view.status,
  addedAt: new Date(view.addedAt),
  addedBy: view.addedBy,
  statusChangedAt: new Date(view.statusChangedAt),
});

const toActivity = (view: ActivityView): Activity => ({
  id: view.id,
  kind: view.kind,
  subject: view.subject ?? undefined,
  dueAt: toDate(view.dueAt),
  notes: view.notes ?? undefined,
  done: view.done,
  completedAt: toDate(view.completedAt),
  completionNotes: view.completionNotes ?? undefined,
  scheduledAt: new Date(view.scheduledAt),
  scheduledBy: view.scheduledBy,
});

/** The pipeline summary as the API answers it (the pipeline query, the pipelineChanged subscription). */
export const toPipelineReport = (summary: PipelineSummary): PipelineReport => {
  const byCurrency = (totals: typeof summary.byCurrency) =>
    totals.map(({ currency, count, amount, weightedAmount: weighted }) => ({
      currency,
      count,
      amount: { amount, currency },
      weightedAmount: { amount: weighted, currency },
    }));
  return {
    ...summary,
    byCurrency: byCurrency(summary.byCurrency),
    stages: summary.stages.map((stage) => ({
      ...stage,
      probability: stage.probability ?? undefined,
      byCurrency: byCurrency(stage.byCurrency),
    })),
  };
};
