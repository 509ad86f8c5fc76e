/**
 * The lead list's GraphQL adapter: mutations → commands on the list's stream → the lead lists
 * read model; `assignLeadList` → one plan on the list, one command per lead
 * (src/useCases/assignLeadList.ts); queries → read models.
 */
import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { findLeadLists, getLeadList, listsOfLead } from '../../../projections/leadLists/leadListsProjection';
import { leadListViewOf, type LeadListView } from '../../../projections/leadLists/leadListView';
import { findLeads, type LeadOrder } from '../../../projections/leads/leadsQueries';
import { readStreamOrEmpty } from '../../core/commandHandler';
import { ForbiddenError, ValidationError } from '../../core/errors';
import { plainInput } from '../../core/json';
import type { LeadListState } from '../../domain/leadLists/leadList';
import type { LeadListCommand } from '../../domain/leadLists/decide';
import { leadListStreamId, type LeadListEvent } from '../../domain/leadLists/events';
import { assignLeadList, leadListDecider } from '../../useCases/assignLeadList';
import { connection, pageSize } from '../shared/common';
import type { GraphQLContext } from '../shared/context';
import { hasAnyRole } from '../shared/roles';
import { commandContextFor, mutate, newEntityIds, type EntityKind } from '../shared/runCommand';
import {
  ArchiveLeadListInput,
  AssignLeadListInput,
  AssignLeadListPayload,
  CreateLeadListInput,
  LeadList,
  LeadListConnection,
  LeadListMembersInput,
  LeadListPayload,
  RenameLeadListInput,
  toLeadList,
} from '../types/leadLists';
import { Lead, LeadConnection, LeadOrderEnum } from '../types/leads';
import { toLead } from './leads';

/** Reassigning leads that have an owner is a sales manager's call; marketing hands over unowned ones. */
const REASSIGNERS = ['sales_manager', 'admin'] as const;

const LEAD_LIST: EntityKind<LeadListState, LeadListCommand, LeadListEvent, LeadListView, { list: LeadList }> = {
  name: 'LeadList',
  readModels: ['leadLists'],
  decider: () => leadListDecider,
  streamId: leadListStreamId,
  read: getLeadList,
  readAt: async (app, id, at) =>
    leadListViewOf((await readStreamOrEmpty(app.store, leadListStreamId(id))).slice(0, at.revision + 1)),
  payload: (view) => ({ list: toLeadList(view) }),
};

/** Leads named that the read model does not know: refused before anything is written. */
const requireKnownLeads = async (context: GraphQLContext, leadIds: readonly string[]): Promise<void> => {
  const unique = [...new Set(leadIds)];
  if (unique.length === 0) return;
  const rows = await context.app.readDb.all<{ id: string }>(
    `SELECT id FROM read_leads WHERE id IN (${unique.map(() => '?').join(', ')})`,
    unique,
  );
  const known = new Set(rows.map((row) => row.id));
  const unknown = unique.filter((id) => !known.has(id));
  if (unknown.length > 0) {
    throw new ValidationError([{ field: 'leadIds', message: `no such leads: ${unknown.slice(0, 20).join(', ')}${unknown.length > 20 ? ', ...' : ''}` }]);
  }
};

@Authorized()
@Resolver(() => LeadList)
export class LeadListResolver {
  @Mutation(() => LeadListPayload, { description: 'A static list (optionally with its first leads), or a dynamic one from a saved filter' })
  async createLeadList(@Arg('input', () => CreateLeadListInput) input: CreateLeadListInput, @Ctx() context: GraphQLContext) {
    const { commandId, id: listId } = newEntityIds(context, 'CreateLeadList', input.idempotencyKey, 'leadList');
    const plain = plainInput(input);
    const { idempotencyKey: _key, kind, ...list } = plain;
    await requireKnownLeads(context, list.leadIds ?? []);
    const data = { ...list, listId, kind: kind ?? (list.filter ? 'DYNAMIC' : 'STATIC') } as const;
    return mutate(context, LEAD_LIST, listId, plain, { type: 'CreateLeadList', data }, { isNew: true, commandId });
  }

  @Mutation(() => LeadListPayload)
  async renameLeadList(@Arg('input', () => RenameLeadListInput) input: RenameLeadListInput, @Ctx() context: GraphQLContext) {
    const plain = plainInput(input);
    return mutate(context, LEAD_LIST, plain.listId, plain, { type: 'RenameLeadList', data: { listId: plain.listId, name: plain.name } });
  }

  @Mutation(() => LeadListPayload, { description: 'Leads already in the list are left as they are' })
  async addLeadsToList(@Arg('input', () => LeadListMembersInput) input: LeadListMembersInput, @Ctx() context: GraphQLContext) {
    const plain = plainInput(input);
    await requireKnownLeads(context, plain.leadIds);
    return mutate(context, LEAD_LIST, plain.listId, plain, { type: 'AddLeadsToList', data: { listId: plain.listId, leadIds: plain.leadIds } });
  }

  @Mutation(() => LeadListPayload, { description: 'Leads not in the list are ignored' })
  async removeLeadsFromList(@Arg('input', () => LeadListMembersInput) input: LeadListMembersInput, @Ctx() context: GraphQLContext) {
    const plain = plainInput(input);
    return mutate(context, LEAD_LIST, plain.listId, plain, {
      type: 'RemoveLeadsFromList',
      data: { listId: plain.listId, leadIds: plain.leadIds },
    });
  }

  @Mutation(() => LeadListPayload, { description: 'An archived list keeps its leads and history, and takes no more changes' })
  async archiveLeadList(@Arg('input', () => ArchiveLeadListInput) input: ArchiveLeadListInput, @Ctx() context: GraphQLContext) {
    const plain = plainInput(input);
    return mutate(context, LEAD_LIST, plain.listId, plain, { type: 'ArchiveLeadList', data: { listId: plain.listId } });
  }

  @Mutation(() => AssignLeadListPayload, {
    description:
      "Deals the list's open leads out to the owners, each lead by its own assignment caused by the list's plan. " +
      'Send the same idempotencyKey again to finish an interrupted run: nothing is assigned twice',
  })
  async assignLeadList(@Arg('input', () => AssignLeadListInput) input: AssignLeadListInput, @Ctx() context: GraphQLContext): Promise<AssignLeadListPayload> {
    const plain = plainInput(input);
    const onlyUnassigned = plain.onlyUnassigned ?? true;
    if (!onlyUnassigned && !hasAnyRole(context.identity, REASSIGNERS)) {
      throw new ForbiddenError('assignLeadList with onlyUnassigned: false (reassigning owned leads)', REASSIGNERS);
    }
    const parent = commandContextFor(context, 'AssignLeadList', plain);
    const outcome = await assignLeadList(context.app, parent, {
      listId: plain.listId,
      owners: plain.owners,
      strategy: plain.strategy,
      onlyUnassigned,
    });
    if (outcome.lastPosition !== undefined) await context.app.readModels.waitForPosition(outcome.lastPosition);
    const view = await getLeadList(context.app.readDb, plain.listId);
    if (!view) throw new Error(`Lead list ${plain.listId} is missing from the read model`);
    const { lastPosition: _position, ...counts } = outcome;
    return { list: toLeadList(view), ...counts };
  }

  @Query(() => LeadListConnection, { description: 'Alphabetical; archived lists only with includeArchived' })
  async leadLists(
    @Ctx() context: GraphQLContext,
    @Arg('includeArchived', () => Boolean, { nullable: true }) includeArchived?: boolean,
    @Arg('first', () => Int, { nullable: true }) first?: number,
    @Arg('after', () => String, { nullable: true }) after?: string,
  ): Promise<LeadListConnection> {
    const page = await findLeadLists(context.app.readDb, { includeArchived: includeArchived ?? false, first: pageSize(first), after: after ?? undefined });
    return connection(page, toLeadList);
  }

  @Query(() => LeadList, { nullable: true })
  async leadList(@Arg('id', () => ID) id: string, @Ctx() context: GraphQLContext): Promise<LeadList | undefined> {
    const view = await getLeadList(context.app.readDb, id);
    return view && toLeadList(view);
  }

  @FieldResolver(() => Int, { description: "A static list's leads; a dynamic list's: those its filter matches now" })
  async leadCount(@Root() list: LeadList, @Ctx() context: GraphQLContext): Promise<number> {
    if (list.kind === 'STATIC') return list.storedLeadCount;
    return (await findLeads(context.app.readDb, { filter: { listId: list.id }, first: 0, counts: context.app.reports })).totalCount;
  }

  @FieldResolver(() => LeadConnection, { description: 'The same as leads(filter: { listId })' })
  async leads(
    @Root() list: LeadList,
    @Ctx() context: GraphQLContext,
    @Arg('first', () => Int, { nullable: true }) first?: number,
    @Arg('after', () => String, { nullable: true }) after?: string,
    @Arg('orderBy', () => LeadOrderEnum, { nullable: true }) orderBy?: LeadOrder,
  ): Promise<LeadConnection> {
    const page = await findLeads(context.app.readDb, {
      filter: { listId: list.id },
      counts: context.app.reports,
      first: pageSize(first),
      after: after ?? undefined,
      orderBy: orderBy ?? undefined,
    });
    return connection(page, (view) => toLead(view, context));
  }
}

@Authorized()
@Resolver(() => Lead)
export class LeadListsOfLeadResolver {
  @FieldResolver(() => [LeadList], { description: 'The static lists the lead was put into, alphabetical' })
  async lists(@Root() lead: Lead, @Ctx() context: GraphQLContext): Promise<LeadList[]> {
    return (await listsOfLead(context.app.readDb, lead.id)).map(toLeadList);
  }
}
