/** The lead list's state and `evolve`, which folds its events (in `events.ts`) into it. Pure. */
import type { LeadListEvent, LeadListKind, SavedLeadFilter } from './events';

export type LeadListState =
  | { status: 'NONE' }
  | {
      status: 'ACTIVE' | 'ARCHIVED';
      listId: string;
      name: string;
      kind: LeadListKind;
      filter?: SavedLeadFilter;
      /** A static list's leads, in the order they were added. */
      leadIds: ReadonlySet<string>;
    };

export type ExistingLeadList = Exclude<LeadListState, { status: 'NONE' }>;

export const initialLeadListState = (): LeadListState => ({ status: 'NONE' });

export const evolveLeadList = (state: LeadListState, event: LeadListEvent): LeadListState => {
  if (event.type === 'LeadListCreated') {
    const { listId, name, kind, filter } = event.data;
    return { status: 'ACTIVE', listId, name, kind, ...(filter ? { filter } : {}), leadIds: new Set() };
  }
  if (state.status === 'NONE') return state;
  switch (event.type) {
    case 'LeadListRenamed':
      return { ...state, name: event.data.name };
    case 'LeadsAddedToList':
      return { ...state, leadIds: new Set([...state.leadIds, ...event.data.leadIds]) };
    case 'LeadsRemovedFromList': {
      const removed = new Set(event.data.leadIds);
      return { ...state, leadIds: new Set([...state.leadIds].filter((leadId) => !removed.has(leadId))) };
    }
    case 'LeadListArchived':
      return { ...state, status: 'ARCHIVED' };
    case 'LeadListAssigned':
      return state;
  }
};
