/**
 * A lead list's facts. Marketing groups leads into lists for segmentation and hands them to the
 * sales team ("los leads se pueden agrupar en Listas a modo de segmentación y asignación
 * operativa"). A static list holds the leads put into it; a dynamic one is a saved lead filter,
 * its leads whichever match it when asked.
 */
import type { LeadRank, LeadSource, LeadStatus } from '../leads/lead';

export const LEAD_LIST_KINDS = ['STATIC', 'DYNAMIC'] as const;
export type LeadListKind = (typeof LEAD_LIST_KINDS)[number];

export const ASSIGNMENT_STRATEGIES = ['ROUND_ROBIN', 'LEAST_LOADED'] as const;
export type AssignmentStrategy = (typeof ASSIGNMENT_STRATEGIES)[number];

/** The lead filter a dynamic list saves: the same fields as `leads(filter)`, without a list. */
export interface SavedLeadFilter {
  status?: LeadStatus;
  rank?: LeadRank;
  source?: LeadSource;
  campaign?: string;
  ownerId?: string;
  /** Case- and accent-insensitive, on first, last and full name, e-mail and company name. */
  search?: string;
  /** Only leads whose last score is at least this (unscored leads are left out). */
  minScore?: number;
}

export type LeadListCreated = {
  type: 'LeadListCreated';
  data: { listId: string; name: string; kind: LeadListKind; description?: string; filter?: SavedLeadFilter };
};

export type LeadListRenamed = { type: 'LeadListRenamed'; data: { listId: string; name: string; previousName: string } };

/** Only the leads that were not in the list already, in the order given. */
export type LeadsAddedToList = { type: 'LeadsAddedToList'; data: { listId: string; leadIds: string[] } };

/** Only the leads that were in the list. */
export type LeadsRemovedFromList = { type: 'LeadsRemovedFromList'; data: { listId: string; leadIds: string[] } };

export type LeadListArchived = { type: 'LeadListArchived'; data: { listId: string } };

/**
 * The plan of an assignment of the list's leads to owners, decided once: each lead is then
 * assigned by a command of its own, caused by this event, so an interrupted assignment is
 * finished by running the same request again, and nothing is assigned twice.
 */
export type LeadListAssigned = {
  type: 'LeadListAssigned';
  data: {
    listId: string;
    strategy: AssignmentStrategy;
    owners: string[];
    onlyUnassigned: boolean;
    assignments: { leadId: string; ownerId: string }[];
    /** Leads of the list left as they were: owned already (with onlyUnassigned), or not open. */
    leftOut: number;
  };
};

export type LeadListEvent =
  | LeadListCreated
  | LeadListRenamed
  | LeadsAddedToList
  | LeadsRemovedFromList
  | LeadListArchived
  | LeadListAssigned;

export const LEAD_LIST_EVENT_TYPES: readonly LeadListEvent['type'][] = [
  'LeadListCreated',
  'LeadListRenamed',
  'LeadsAddedToList',
  'LeadsRemovedFromList',
  'LeadListArchived',
  'LeadListAssigned',
];

/** Not `lead-...`: a lead list's stream must not read as a lead's (`isLeadStream`). */
export const LEAD_LIST_STREAM_PREFIX = 'leadlist-';
export const leadListStreamId = (listId: string): string => `${LEAD_LIST_STREAM_PREFIX}${listId}`;
