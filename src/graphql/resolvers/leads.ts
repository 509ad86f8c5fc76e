/** The lead's GraphQL adapter: mutation → command → read model; queries → read model. */
import { Arg, Authorized, Ctx, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import { findLeads, type LeadOrder } from '../../../projections/leads/leadsQueries';
import { getLeadInTurn, type LeadView } from '../../../projections/leads/leadView';
import { plainInput } from '../../core/json';
import type { LeadCommand } from '../../domain/leads/decide';
import type { LeadEvent, LeadState } from '../../domain/leads/lead';
import { leadStreamId } from '../../domain/leads/lead';
import { isTimeTravel, leadAsOf, TIME_TRAVEL_DESCRIPTION } from '../../useCases/asOf';
import { leadAtRevision, leadOpenedBy, leadRowIsAt } from '../../useCases/atRevision';
import { connection, pageSize } from '../shared/common';
import { LEAD_UNBOUND, ownedByCaller, requireOwnOwnerId } from '../shared/ownership';
import { requireRoles, SQL_QUALIFIERS } from '../shared/roles';
import type { GraphQLContext } from '../shared/context';
import { commandContextFor, mutate, newEntityIds, type EntityKind } from '../shared/runCommand';
import { engageContact } from '../../useCases/engageContact';
import { DateTimeScalar } from '../shared/scalars';
import {
  AssignLeadInput,
  AssignLeadPayload,
  CaptureLeadInput,
  CaptureLeadPayload,
  DisqualifyLeadInput,
  DisqualifyLeadPayload,
  EngageContactInput,
  EngageContactPayload,
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
} from '../types/leads';

const NO_CRITERIA = { need: false, budget: false, authority: false, timing: false };


/** Leads as `mutate` handles them. */
const LEAD: EntityKind<LeadState, LeadCommand, LeadEvent, LeadView, { lead: Lead }> = {
  name: 'Lead',
  readModels: ['leads'],
  decider: (app) => app.leadDecider,
  streamId: leadStreamId,
  read: getLeadInTurn,
  readAt: (app, id, at) => leadAtRevision(app.store, id, at.revision),
  openedBy: (_app, id, events, at) => leadOpenedBy(id, events, at.position),
  isAt: (app, view, at) => leadRowIsAt(app.store, view, at),
  payload: (view, context) => ({ lead: toLead(view, context) }),
  authorize: (context) => ownedByCaller(context, 'lead', LEAD_UNBOUND),
};

@Authorized()
@Resolver()
export class LeadResolver {
  @Mutation(() => CaptureLeadPayload)
  async captureLead(@Arg('input', () => CaptureLeadInput) input: CaptureLeadInput, @Ctx() context: GraphQLContext) {
    const { commandId, id: leadId } = newEntityIds(context, 'CaptureLead', input.idempotencyKey, 'lead');
    const plain = plainInput(input);
    const { idempotencyKey: _key, occurredAt: _occurredAt, ...data } = plain;
    requireOwnOwnerId(context, data.ownerId, 'lead');
    return mutate(context, LEAD, leadId, plain, { type: 'CaptureLead', data: { ...data, leadId } }, { isNew: true, commandId });
  }

  @Mutation(() => EngageContactPayload, {
    description:
      "Opens a new lead cycle for an existing contact, active or not: the person is the contact's, the company " +
      "its account's. Converting the lead attaches it to that contact and account. NOT_FOUND for an unknown " +
      'contact; PERSONAL_DATA_ERASED when the contact\'s personal data was erased',
  })
  async engageContact(@Arg('input', () => EngageContactInput) input: EngageContactInput, @Ctx() context: GraphQLContext) {
    const { commandId, id: leadId } = newEntityIds(context, 'EngageContact', input.idempotencyKey, 'lead');
    const plain = plainInput(input);
    const { idempotencyKey: _key, occurredAt: _occurredAt, ...request } = plain;
    requireOwnOwnerId(context, request.ownerId, 'lead');
    const { app } = context;
    const result = await engageContact(app, { ...request, leadId }, commandContextFor(context, 'EngageContact', plain, commandId), {
      freshStream: !plain.idempotencyKey,
    });
    await app.readModels.waitForPosition(result.position, undefined, { readModels: ['leads', 'contacts'] });
    // The lead as the engagement left it, even if others wrote since, its automatic score among
    // them (or this is a replay).
    const live = await getLeadInTurn(app.readDb, leadId);
    const view =
      live !== undefined && leadRowIsAt(app.store, live, { revision: result.revision, position: result.position })
        ? live
        : await leadAtRevision(app.store, leadId, result.revision);
    if (!view) throw new Error(`Lead ${leadId} is missing from the read model after its engagement`);
    return { lead: toLead(view, context) };
  }

  @Mutation(() => LogLeadContactPayload)
  async logLeadContact(@Arg('input', () => LogLeadContactInput) input: LogLeadContactInput, @Ctx() context: GraphQLContext) {
    const plain = plainInput(input);
    const { leadId, channel, outcome, notes } = plain;
    return mutate(context, LEAD, leadId, plain, { type: 'LogLeadContact', data: { leadId, channel, outcome, notes } });
  }

  @Mutation(() => LogQuoteRequestPayload, { description: 'Records that the lead asked for a proposal (a quote)' })
  async logQuoteRequest(@Arg('input', () => LogQuoteRequestInput) input: LogQuoteRequestInput, @Ctx() context: GraphQLContext) {
    const plain = plainInput(input);
    const { leadId, notes } = plain;
    return mutate(context, LEAD, leadId, plain, { type: 'LogQuoteRequest', data: { leadId, notes } });
  }

  @Mutation(() => UpdateLeadDetailsPayload)
  async updateLeadDetails(
    @Arg('input', () => UpdateLeadDetailsInput) input: UpdateLeadDetailsInput,
    @Ctx() context: GraphQLContext,
  ) {
    const plain = plainInput(input);
    const { leadId, campaign, person, company, interest } = plain;
    return mutate(context, LEAD, leadId, plain, {
      type: 'UpdateLeadDetails',
      data: { leadId, campaign, person, company, interest },
    });
  }

  @Mutation(() => AssignLeadPayload)
  async assignLead(@Arg('input', () => AssignLeadInput) input: AssignLeadInput, @Ctx() context: GraphQLContext) {
    const plain = plainInput(input);
    const { leadId, ownerId } = plain;
    // A sales user takes an unowned lead for itself; the lead's current owner is checked by mutate.
    requireOwnOwnerId(context, ownerId, 'lead');
    return mutate(context, LEAD, leadId, plain, { type: 'AssignLead', data: { leadId, ownerId } }, { authorize: ownedByCaller(context, 'lead') });
  }

  @Mutation(() => QualifyLeadPayload)
  async qualifyLead(@Arg('input', () => QualifyLeadInput) input: QualifyLeadInput, @Ctx() context: GraphQLContext) {
    const plain = plainInput(input);
    const { leadId, rank, criteria, notes } = plain;
    // Marketing ranks MQL; certifying a lead as sales-qualified is sales' call.
    if (rank === 'SQL') requireRoles(context.identity, SQL_QUALIFIERS, 'qualifying a lead as SQL');
    return mutate(context, LEAD, leadId, plain, {
      type: 'QualifyLead',
      data: { leadId, rank: rank as 'MQL' | 'SQL', criteria: { ...NO_CRITERIA, ...criteria }, notes },
    });
  }

  @Mutation(() => DisqualifyLeadPayload)
  async disqualifyLead(@Arg('input', () => DisqualifyLeadInput) input: DisqualifyLeadInput, @Ctx() context: GraphQLContext) {
    const plain = plainInput(input);
    const { leadId, reason, notes } = plain;
    return mutate(context, LEAD, leadId, plain, { type: 'DisqualifyLead', data: { leadId, reason, notes } });
  }

  @Mutation(() => RecycleLeadPayload)
  async recycleLead(@Arg('input', () => RecycleLeadInput) input: RecycleLeadInput, @Ctx() context: GraphQLContext) {
    const plain = plainInput(input);
    const { leadId, source, campaign, notes } = plain;
    return mutate(context, LEAD, leadId, plain, { type: 'RecycleLead', data: { leadId, source, campaign, notes } });
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
      : await getLeadInTurn(context.app.readDb, id);
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
    const page = await findLeads(context.app.readDb, {
      filter: filter ? plainInput({ ...filter }) : undefined,
      first: pageSize(first),
      after: after ?? undefined,
      orderBy: orderBy ?? undefined,
      counts: context.app.reports,
    });
    return connection(page, (view) => toLead(view, context));
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
    contactId: view.contactId ?? undefined,
    capturedAt: new Date(view.capturedAt),
    capturedBy: view.capturedBy,
    updatedAt: new Date(view.updatedAt),
    personalDataErased: view.personalDataErased,
  };
};
