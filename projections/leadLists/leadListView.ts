/** A lead list as the read model holds it, and the row it is stored as. */
import type { RecordedEvent } from '../../src/core/eventStore';
import type { AssignmentStrategy, LeadListEvent, LeadListKind, SavedLeadFilter } from '../../src/domain/leadLists/events';
import type { SqlValue } from '../sqlDatabase';

export interface LeadListAssignmentSummary {
  at: string;
  by: string;
  strategy: AssignmentStrategy;
  owners: string[];
  onlyUnassigned: boolean;
  planned: number;
  leftOut: number;
}

export interface LeadListView {
  id: string;
  revision: number;
  name: string;
  kind: LeadListKind;
  description?: string;
  filter?: SavedLeadFilter;
  status: 'ACTIVE' | 'ARCHIVED';
  /** A static list's leads; a dynamic list's count is its filter's (asked of the leads). */
  leadCount: number;
  lastAssignment?: LeadListAssignmentSummary;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
}

export type LeadListRow = Record<
  | 'id'
  | 'revision'
  | 'name'
  | 'kind'
  | 'description'
  | 'filter'
  | 'status'
  | 'lead_count'
  | 'last_assignment'
  | 'created_at'
  | 'created_by'
  | 'updated_at'
  | 'sort_key',
  SqlValue
>;

export const fromRow = (row: LeadListRow): LeadListView => ({
  id: String(row.id),
  revision: Number(row.revision),
  name: String(row.name),
  kind: row.kind as LeadListKind,
  ...(row.description === null ? {} : { description: String(row.description) }),
  ...(row.filter === null ? {} : { filter: JSON.parse(String(row.filter)) as SavedLeadFilter }),
  status: row.status as LeadListView['status'],
  leadCount: Number(row.lead_count),
  ...(row.last_assignment === null ? {} : { lastAssignment: JSON.parse(String(row.last_assignment)) as LeadListAssignmentSummary }),
  createdAt: String(row.created_at),
  createdBy: String(row.created_by),
  updatedAt: String(row.updated_at),
});

/**
 * The list as the read model shows it right after the last of `events` (its stream, from the
 * first event): what a mutation answers when later writes have moved the row on.
 */
export const leadListViewOf = (events: readonly RecordedEvent[]): LeadListView | undefined => {
  let view: LeadListView | undefined;
  const members = new Set<string>();
  for (const recorded of events) {
    const event = recorded as unknown as LeadListEvent;
    const at = recorded.metadata.recordedAt;
    if (event.type === 'LeadListCreated') {
      const { listId, name, kind, description, filter } = event.data;
      view = {
        id: listId,
        revision: recorded.revision,
        name,
        kind,
        ...(description === undefined ? {} : { description }),
        ...(filter === undefined ? {} : { filter }),
        status: 'ACTIVE',
        leadCount: 0,
        createdAt: at,
        createdBy: recorded.metadata.actor,
        updatedAt: at,
      };
      continue;
    }
    if (!view) continue;
    view = { ...view, revision: recorded.revision, updatedAt: at };
    switch (event.type) {
      case 'LeadListRenamed':
        view.name = event.data.name;
        break;
      case 'LeadsAddedToList':
        for (const leadId of event.data.leadIds) members.add(leadId);
        break;
      case 'LeadsRemovedFromList':
        for (const leadId of event.data.leadIds) members.delete(leadId);
        break;
      case 'LeadListArchived':
        view.status = 'ARCHIVED';
        break;
      case 'LeadListAssigned': {
        const { strategy, owners, onlyUnassigned, assignments, leftOut } = event.data;
        view.lastAssignment = { at, by: recorded.metadata.actor, strategy, owners, onlyUnassigned, planned: assignments.length, leftOut };
        break;
      }
    }
    view.leadCount = members.size;
  }
  return view;
};
