/**
 * What may happen to a lead list: create it (static, or dynamic from a saved filter), rename it,
 * add and remove leads (static lists only), archive it, and plan its assignment to owners. Pure:
 * ids, time and the actor arrive with the command's context; whether the leads exist, and who
 * owns them now, is read by the caller and passed in.
 */
import type { Decider } from '../../core/decider';
import { InvalidTransitionError, NotFoundError, ValidationError } from '../../core/errors';
import { withoutUndefined } from '../../core/json';
import { planAssignment, type ListLead } from './assignment';
import type { AssignmentStrategy, LeadListEvent, LeadListKind, SavedLeadFilter } from './events';
import { evolveLeadList, initialLeadListState, type ExistingLeadList, type LeadListState } from './leadList';

/** Leads one command may add or remove: a bigger batch is several commands (the import does so). */
export const MAX_LEADS_PER_LIST_COMMAND = 1000;
/** Owners one assignment may deal the list out to. */
export const MAX_ASSIGNMENT_OWNERS = 100;
const MAX_NAME_LENGTH = 200;

export type CreateLeadList = {
  type: 'CreateLeadList';
  data: { listId: string; name: string; kind: LeadListKind; description?: string; filter?: SavedLeadFilter; leadIds?: string[] };
};
export type RenameLeadList = { type: 'RenameLeadList'; data: { listId: string; name: string } };
export type AddLeadsToList = { type: 'AddLeadsToList'; data: { listId: string; leadIds: string[] } };
export type RemoveLeadsFromList = { type: 'RemoveLeadsFromList'; data: { listId: string; leadIds: string[] } };
export type ArchiveLeadList = { type: 'ArchiveLeadList'; data: { listId: string } };
export type AssignLeadList = {
  type: 'AssignLeadList';
  data: {
    listId: string;
    owners: string[];
    strategy: AssignmentStrategy;
    onlyUnassigned: boolean;
    /** The list's leads as they are now (a dynamic list's: those its filter matches). */
    leads: ListLead[];
    /** Open leads each owner holds now (LEAST_LOADED). */
    loads?: ReadonlyMap<string, number>;
  };
};

export type LeadListCommand = CreateLeadList | RenameLeadList | AddLeadsToList | RemoveLeadsFromList | ArchiveLeadList | AssignLeadList;

export const createLeadListDecider = (): Decider<LeadListState, LeadListCommand, LeadListEvent> => {
  const decide = (command: LeadListCommand, state: LeadListState): LeadListEvent[] => {
    if (command.type === 'CreateLeadList') return create(command, state);
    if (state.status === 'NONE') throw new NotFoundError('LeadList', command.data.listId);
    switch (command.type) {
      case 'RenameLeadList':
        return rename(command, requireActive(state, 'rename'));
      case 'AddLeadsToList':
        return add(command, requireStatic(requireActive(state, 'add leads to'), 'add leads to'));
      case 'RemoveLeadsFromList':
        return remove(command, requireStatic(requireActive(state, 'remove leads from'), 'remove leads from'));
      case 'ArchiveLeadList':
        return state.status === 'ARCHIVED' ? [] : [{ type: 'LeadListArchived', data: { listId: state.listId } }];
      case 'AssignLeadList':
        return assign(command, requireActive(state, 'assign'));
    }
  };
  return { decide, evolve: evolveLeadList, initialState: initialLeadListState };
};

const create = ({ data }: CreateLeadList, state: LeadListState): LeadListEvent[] => {
  if (state.status !== 'NONE') throw new InvalidTransitionError(state.status, `Lead list ${data.listId} exists already`);
  requireName(data.name);
  const problems: { field: string; message: string }[] = [];
  const criteria = Object.values(withoutUndefined({ ...data.filter })).filter((value) => value !== null);
  if (data.kind === 'DYNAMIC' && criteria.length === 0) {
    problems.push({ field: 'filter', message: 'a dynamic list needs a filter with at least one criterion' });
  }
  if (data.kind === 'DYNAMIC' && data.leadIds && data.leadIds.length > 0) {
    problems.push({ field: 'leadIds', message: 'a dynamic list holds the leads its filter matches; leads cannot be added to it' });
  }
  if (data.kind === 'STATIC' && data.filter !== undefined) {
    problems.push({ field: 'filter', message: 'a static list holds the leads put into it; it has no filter' });
  }
  if (problems.length > 0) throw new ValidationError(problems);
  const { leadIds = [], ...list } = data;
  const created: LeadListEvent = { type: 'LeadListCreated', data: withoutUndefined({ ...list, name: list.name.trim() }) };
  const added = distinct(requireBatch(leadIds, 'leadIds'));
  return added.length === 0 ? [created] : [created, { type: 'LeadsAddedToList', data: { listId: data.listId, leadIds: added } }];
};

const rename = ({ data }: RenameLeadList, state: ExistingLeadList): LeadListEvent[] => {
  requireName(data.name);
  const name = data.name.trim();
  if (name === state.name) return [];
  return [{ type: 'LeadListRenamed', data: { listId: state.listId, name, previousName: state.name } }];
};

const add = ({ data }: AddLeadsToList, state: ExistingLeadList): LeadListEvent[] => {
  const added = distinct(requireBatch(data.leadIds, 'leadIds')).filter((leadId) => !state.leadIds.has(leadId));
  return added.length === 0 ? [] : [{ type: 'LeadsAddedToList', data: { listId: state.listId, leadIds: added } }];
};

const remove = ({ data }: RemoveLeadsFromList, state: ExistingLeadList): LeadListEvent[] => {
  const removed = distinct(requireBatch(data.leadIds, 'leadIds')).filter((leadId) => state.leadIds.has(leadId));
  return removed.length === 0 ? [] : [{ type: 'LeadsRemovedFromList', data: { listId: state.listId, leadIds: removed } }];
};

const assign = ({ data }: AssignLeadList, state: ExistingLeadList): LeadListEvent[] => {
  const owners = distinct(data.owners.map((owner) => owner.trim()));
  if (owners.length === 0 || owners.some((owner) => owner === '')) {
    throw new ValidationError([{ field: 'owners', message: 'name at least one owner, none blank' }]);
  }
  if (owners.length > MAX_ASSIGNMENT_OWNERS) {
    throw new ValidationError([{ field: 'owners', message: `at most ${MAX_ASSIGNMENT_OWNERS} owners` }]);
  }
  const plan = planAssignment(data.leads, owners, data.strategy, data.onlyUnassigned, data.loads);
  return [
    {
      type: 'LeadListAssigned',
      data: { listId: state.listId, strategy: data.strategy, owners, onlyUnassigned: data.onlyUnassigned, ...plan },
    },
  ];
};

const requireActive = (state: ExistingLeadList, what: string): ExistingLeadList => {
  if (state.status === 'ARCHIVED') throw new InvalidTransitionError(state.status, `Cannot ${what} an archived lead list`);
  return state;
};

const requireStatic = (state: ExistingLeadList, what: string): ExistingLeadList => {
  if (state.kind === 'DYNAMIC') {
    throw new InvalidTransitionError(state.kind, `Cannot ${what} a dynamic list: its leads are those its filter matches`);
  }
  return state;
};

const requireName = (name: string): void => {
  if (!name.trim()) throw new ValidationError([{ field: 'name', message: 'a list needs a name' }]);
  if (name.trim().length > MAX_NAME_LENGTH) throw new ValidationError([{ field: 'name', message: `at most ${MAX_NAME_LENGTH} characters` }]);
};

const requireBatch = (leadIds: readonly string[], field: string): readonly string[] => {
  if (leadIds.length > MAX_LEADS_PER_LIST_COMMAND) {
    throw new ValidationError([{ field, message: `at most ${MAX_LEADS_PER_LIST_COMMAND} leads at a time` }]);
  }
  return leadIds;
};

const distinct = (values: readonly string[]): string[] => [...new Set(values)];
