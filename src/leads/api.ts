/** The lead's GraphQL adapter: mutation → command → read model; queries → read model. */
import { Arg, Authorized, Ctx, Int, Mutation, Query, Resolver, ID } from 'type-graphql';
import { ValidationError } from '../core/errors';
import { deterministicId, newId } from '../core/ids';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../graphql/common';
import { DateTimeScalar } from '../graphql/scalars';
import { TIME_TRAVEL_DESCRIPTION, isTimeTravel, leadAsOf } from '../timeTravel/asOf';
import type { GraphQLContext } from '../graphql/context';
import { commandIdFor, runCommand } from '../graphql/runCommand';
import { findLeads, getLead, type LeadOrder, type LeadView } from '../../projections/leads/leadsReadModel';
import type { LeadCommand } from './decide';
import { leadStreamId } from './lead';
import {
  AssignLeadInput,
  AssignLeadPayload,
  CaptureLeadInput,
  CaptureLeadPayload,
  DisqualifyLeadInput,
  DisqualifyLeadPayload,
  Lead,
  LeadConnection,
  LeadFilter,
  LeadOrderEnum,
  LogLeadContactInput,
  LogLeadContactPayload,
  LogQuoteRequestInput,
  LogQuoteRequestPayload,
  QualifyLeadInput,
  QualifyLeadPayload,
  RecycleLeadInput,
  RecycleLeadPayload,
  UpdateLeadDetailsInput,
  UpdateLeadDetailsPayload,
} from './graphqlTypes';
import { plainInput } from '../core/json';

const NO_CRITERIA = { need: false, budget: false, authority: false, timing: false };

@Authorized()
@Resolver()
export class LeadResolver {
  @Mutation(() => CaptureLeadPayload)
  async captureLead(@Arg('input', () => CaptureLeadInput) input: CaptureLeadInput, @Ctx() context: GraphQLContext) {
    const commandId = commandIdFor(context, 'CaptureLead', input.idempotencyKey);
    const leadId = input.idempotencyKey ? deterministicId(commandId, 'lead') : newId();
    const { idempotencyKey: _key, occurredAt: _occurredAt, ...data } = plainInput(input);
    return this.execute(context, input, leadId, { type: 'CaptureLead', data: { ...data, leadId } }, false);
  }

  @Mutation(() => LogLeadContactPayload)
  async logLeadContact(@Arg('input', () => LogLeadContactInput) input: LogLeadContactInput, @Ctx() context: GraphQLContext) {
    const { leadId, channel, outcome, notes } = plainInput(input);
    return this.execute(context, input, leadId, { type: 'LogLeadContact', data: { leadId, channel, outcome, notes } });
  }

  @Mutation(() => LogQuoteRequestPayload, { description: 'Records that the lead asked for a proposal (a quote)' })
  async logQuoteRequest(@Arg('input', () => LogQuoteRequestInput) input: LogQuoteRequestInput, @Ctx() context: GraphQLContext) {
    const { leadId, notes } = plainInput(input);
    return this.execute(context, input, leadId, { type: 'LogQuoteRequest', data: { leadId, notes } });
  }

  @Mutation(() => UpdateLeadDetailsPayload)
  async updateLeadDetails(
    @Arg('input', () => UpdateLeadDetailsInput) input: UpdateLeadDetailsInput,
    @Ctx() context: GraphQLContext,
  ) {
    const { leadId, campaign, person, company, interest } = plainInput(input);
    return this.execute(context, input, leadId, {
      type: 'UpdateLeadDetails',
      data: { leadId, campaign, person, company, interest },
    });
  }

  @Mutation(() => AssignLeadPayload)
  async assignLead(@Arg('input', () => AssignLeadInput) input: AssignLeadInput, @Ctx() context: GraphQLContext) {
    const { leadId, ownerId } = plainInput(input);
    return this.execute(context, input, leadId, { type: 'AssignLead', data: { leadId, ownerId } });
  }

  @Mutation(() => QualifyLeadPayload)
  async qualifyLead(@Arg('input', () => QualifyLeadInput) input: QualifyLeadInput, @Ctx() context: GraphQLContext) {
    const { leadId, rank, criteria, notes } = plainInput(input);
    return this.execute(context, input, leadId, {
      type: 'QualifyLead',
      data: { leadId, rank: rank as 'MQL' | 'SQL', criteria: { ...NO_CRITERIA, ...criteria }, notes },
    });
  }

  @Mutation(() => DisqualifyLeadPayload)
  async disqualifyLead(@Arg('input', () => DisqualifyLeadInput) input: DisqualifyLeadInput, @Ctx() context: GraphQLContext) {
    const { leadId, reason, notes } = plainInput(input);
    return this.execute(context, input, leadId, { type: 'DisqualifyLead', data: { leadId, reason, notes } });
  }

  @Mutation(() => RecycleLeadPayload)
  async recycleLead(@Arg('input', () => RecycleLeadInput) input: RecycleLeadInput, @Ctx() context: GraphQLContext) {
    const { leadId, source, campaign, notes } = plainInput(input);
    return this.execute(context, input, leadId, { type: 'RecycleLead', data: { leadId, source, campaign, notes } });
  }

  @Query(() => Lead, { nullable: true, description: `One lead. ${TIME_TRAVEL_DESCRIPTION}` })
  async lead(
    @Arg('id', () => ID) id: string,
    @Ctx() context: GraphQLContext,
    @Arg('asOf', () => DateTimeScalar, { nullable: true }) asOf?: Date,
    @Arg('knownAt', () => DateTimeScalar, { nullable: true }) knownAt?: Date,
  ): Promise<Lead | undefined> {
    const window = { asOf: asOf ?? undefined, knownAt: knownAt ?? undefined };
    const view = isTimeTravel(window)
      ? await leadAsOf(context.app.store, id, window)
      : await getLead(context.app.readDb, id);
    return view && toLead(view, context);
  }

  @Query(() => LeadConnection, { description: 'Leads, newest capture first unless orderBy: SCORE' })
  async leads(
    @Ctx() context: GraphQLContext,
    @Arg('filter', () => LeadFilter, { nullable: true }) filter?: LeadFilter,
    @Arg('first', () => Int, { nullable: true }) first?: number,
    @Arg('after', () => String, { nullable: true }) after?: string,
    @Arg('orderBy', () => LeadOrderEnum, { nullable: true }) orderBy?: LeadOrder,
  ): Promise<LeadConnection> {
    const pageSize = first ?? DEFAULT_PAGE_SIZE;
    if (pageSize < 0 || pageSize > MAX_PAGE_SIZE) {
      throw new ValidationError([{ field: 'first', message: `must be between 0 and ${MAX_PAGE_SIZE}` }]);
    }
    const page = await findLeads(context.app.readDb, {
      filter: filter ? plainInput({ ...filter }) : undefined,
      first: pageSize,
      after: after ?? undefined,
      orderBy: orderBy ?? undefined,
    });
    return {
      edges: page.nodes.map((view, index) => ({ cursor: page.cursors[index]!, node: toLead(view, context) })),
      pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.endCursor },
      totalCount: page.totalCount,
    };
  }

  private async execute(
    context: GraphQLContext,
    input: { idempotencyKey?: string; expectedRevision?: number },
    leadId: string,
    command: LeadCommand,
    mustExist = true,
  ): Promise<{ lead: Lead }> {
    const result = await runCommand(context, {
      decider: context.app.leadDecider,
      streamId: leadStreamId(leadId),
      command,
      commandType: command.type,
      input: plainInput(input),
      existingEntity: mustExist ? { type: 'Lead', id: leadId } : undefined,
    });
    const view = await getLead(context.app.readDb, leadId);
    if (!view) throw new Error(`Lead ${leadId} is missing from the read model after revision ${result.revision}`);
    return { lead: toLead(view, context) };
  }
}

const toDate = (iso: string | undefined | null): Date | undefined => (iso ? new Date(iso) : undefined);

export const toLead = (view: LeadView, context: GraphQLContext): Lead => {
  const reasons = context.app.catalogs.disqualificationReasons;
  return {
    id: view.id,
    revision: view.revision,
    status: view.status,
    rank: view.rank,
    source: view.source,
    campaign: view.campaign ?? undefined,
    person: view.person ?? undefined,
    company: view.company ?? undefined,
    interest: view.interest ?? undefined,
    ownerId: view.ownerId ?? undefined,
    cycle: view.cycle,
    contactAttempts: view.contactAttempts,
    quoteRequests: view.quoteRequests,
    score: view.score ?? undefined,
    scoredWithRulesVersion: view.scoreRulesVersion ?? undefined,
    scoredAt: toDate(view.scoredAt),
    scoreBreakdown: view.scoreBreakdown ?? undefined,
    lastContactedAt: toDate(view.lastContactedAt),
    lastContactOutcome: view.lastContactOutcome ?? undefined,
    qualification:
      view.rank === 'UNRANKED'
        ? undefined
        : {
            rank: view.rank,
            criteria: view.criteria ?? undefined,
            notes: view.qualificationNotes ?? undefined,
            qualifiedAt: toDate(view.qualifiedAt),
          },
    disqualification: view.disqualificationReason
      ? {
          reason: {
            code: view.disqualificationReason,
            label: reasons.label(view.disqualificationReason) ?? view.disqualificationReason,
          },
          notes: view.disqualificationNotes ?? undefined,
          disqualifiedAt: toDate(view.disqualifiedAt),
        }
      : undefined,
    conversion: view.conversion
      ? { ...view.conversion, convertedAt: new Date(view.conversion.convertedAt) }
      : undefined,
    capturedAt: new Date(view.capturedAt),
    capturedBy: view.capturedBy,
    updatedAt: new Date(view.updatedAt),
  };
};
