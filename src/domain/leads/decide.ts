/**
 * What may happen to a lead: each command is checked against the lead's state and either
 * refused (a domain error) or turned into events. Pure: the reason catalog is configuration
 * handed in when the decider is built, time and ids arrive with the command's context.
 */
import type { Decider } from '../../core/decider';
import { InvalidTransitionError, NotFoundError, ValidationError } from '../../core/errors';
import type { ReasonCatalog } from '../reasons';
import {
  evolveLead,
  initialLeadState,
  type ContactChannel,
  type ContactOutcome,
  type ExistingLead,
  type LeadCompany,
  type LeadConverted,
  type LeadEvent,
  type LeadInterest,
  type LeadPerson,
  type LeadSource,
  type LeadState,
  type QualificationCriteria,
} from './lead';
import { sameValue, withoutUndefined } from '../../core/json';

export type CaptureLead = {
  type: 'CaptureLead';
  data: {
    leadId: string;
    source: LeadSource;
    campaign?: string;
    person?: LeadPerson;
    company?: LeadCompany;
    interest?: LeadInterest;
    ownerId?: string;
  };
};
/**
 * A new lead cycle for an existing contact (`engageContact`): the person and company are copies
 * of the contact's and its account's (see `engagement.ts`, which builds this command from them).
 */
export type EngageContact = {
  type: 'EngageContact';
  data: {
    leadId: string;
    contactId: string;
    accountId?: string;
    source: LeadSource;
    campaign?: string;
    person: LeadPerson;
    company?: LeadCompany;
    interest?: LeadInterest;
    ownerId?: string;
  };
};
export type LogLeadContact = {
  type: 'LogLeadContact';
  data: { leadId: string; channel: ContactChannel; outcome: ContactOutcome; notes?: string };
};
export type UpdateLeadDetails = {
  type: 'UpdateLeadDetails';
  data: { leadId: string; campaign?: string; person?: LeadPerson; company?: LeadCompany; interest?: LeadInterest };
};
export type LogQuoteRequest = { type: 'LogQuoteRequest'; data: { leadId: string; notes?: string } };
export type AssignLead = { type: 'AssignLead'; data: { leadId: string; ownerId: string } };
export type QualifyLead = {
  type: 'QualifyLead';
  data: { leadId: string; rank: 'MQL' | 'SQL'; criteria: QualificationCriteria; notes?: string };
};
export type DisqualifyLead = { type: 'DisqualifyLead'; data: { leadId: string; reason: string; notes?: string } };
export type RecycleLead = {
  type: 'RecycleLead';
  data: { leadId: string; source?: LeadSource; campaign?: string; notes?: string };
};

/** Fully planned by `planConversion`: ids derived from the lead, data taken from its backpack. */
export type ConvertLead = { type: 'ConvertLead'; data: Omit<LeadConverted['data'], 'cycle'> };

export type LeadCommand =
  | CaptureLead
  | EngageContact
  | LogLeadContact
  | LogQuoteRequest
  | UpdateLeadDetails
  | AssignLead
  | QualifyLead
  | DisqualifyLead
  | RecycleLead
  | ConvertLead;

/** States in which a lead is still being worked: open to contact, updates and qualification. */
const WORKABLE = new Set<string>(['NEW', 'CONTACTED', 'QUALIFIED']);

export const createLeadDecider = (config: {
  disqualificationReasons: ReasonCatalog;
}): Decider<LeadState, LeadCommand, LeadEvent> => {
  const decide = (command: LeadCommand, state: LeadState): LeadEvent[] => {
    if (command.type === 'CaptureLead') return capture(command, state);
    if (command.type === 'EngageContact') return engage(command, state);
    if (state.status === 'NONE') throw new NotFoundError('Lead', command.data.leadId);
    if (state.status === 'CONVERTED') {
      if (command.type === 'ConvertLead' && state.conversion?.requestHash === command.data.requestHash) {
        return []; // the same conversion again (a retry, a double click): already done
      }
      throw new InvalidTransitionError(state.status, 'A converted lead is read-only');
    }
    switch (command.type) {
      case 'LogLeadContact':
        return logContact(command, state);
      case 'LogQuoteRequest':
        return logQuoteRequest(command, state);
      case 'UpdateLeadDetails':
        return updateDetails(command, state);
      case 'AssignLead':
        return assign(command, state);
      case 'QualifyLead':
        return qualify(command, state);
      case 'DisqualifyLead':
        return disqualify(command, state, config.disqualificationReasons);
      case 'RecycleLead':
        return recycle(command, state);
      case 'ConvertLead':
        return convert(command, state);
    }
  };
  return { decide, evolve: evolveLead, initialState: initialLeadState };
};

const capture = ({ data }: CaptureLead, state: LeadState): LeadEvent[] => {
  if (state.status !== 'NONE') {
    throw new InvalidTransitionError(state.status, `Lead ${data.leadId} has already been captured`);
  }
  if (!data.person?.lastName?.trim() && !data.company?.name?.trim()) {
    throw new ValidationError([
      { field: 'person.lastName', message: "a lead needs at least a person's last name or a company name" },
    ]);
  }
  return [{ type: 'LeadCaptured', data: withoutUndefined(data) }];
};

const engage = ({ data }: EngageContact, state: LeadState): LeadEvent[] => {
  if (state.status !== 'NONE') {
    throw new InvalidTransitionError(state.status, `Lead ${data.leadId} has already been captured`);
  }
  // A contact always has a last name, unless its person was erased: then there is nobody to engage.
  if (!data.person.lastName?.trim()) {
    throw new ValidationError([{ field: 'contactId', message: 'the contact names no person to engage' }]);
  }
  return [{ type: 'LeadCaptured', data: withoutUndefined(data) }];
};

const requireWorkable = (state: ExistingLead, action: string): void => {
  if (!WORKABLE.has(state.status)) {
    const hint = state.status === 'DISQUALIFIED' ? '; recycle it first to start a new cycle' : '';
    throw new InvalidTransitionError(state.status, `Cannot ${action} a ${state.status.toLowerCase()} lead${hint}`);
  }
};

const logContact = ({ data }: LogLeadContact, state: ExistingLead): LeadEvent[] => {
  requireWorkable(state, 'log a contact with');
  return [{ type: 'LeadContactLogged', data: withoutUndefined(data) }];
};

const logQuoteRequest = ({ data }: LogQuoteRequest, state: ExistingLead): LeadEvent[] => {
  requireWorkable(state, 'log a quote request from');
  return [{ type: 'LeadQuoteRequested', data: withoutUndefined(data) }];
};

const updateDetails = ({ data }: UpdateLeadDetails, state: ExistingLead): LeadEvent[] => {
  requireWorkable(state, 'update');
  const changed: Record<string, unknown> = {};
  for (const key of ['campaign', 'person', 'company', 'interest'] as const) {
    if (data[key] !== undefined && !sameValue(data[key], state[key])) changed[key] = data[key];
  }
  if (Object.keys(changed).length === 0) return [];
  return [{ type: 'LeadDetailsUpdated', data: { leadId: data.leadId, ...changed } }];
};

const assign = ({ data }: AssignLead, state: ExistingLead): LeadEvent[] => {
  requireWorkable(state, 'assign');
  if (state.ownerId === data.ownerId) return [];
  return [
    {
      type: 'LeadAssigned',
      data: withoutUndefined({ leadId: data.leadId, ownerId: data.ownerId, previousOwnerId: state.ownerId }),
    },
  ];
};

const qualify = ({ data }: QualifyLead, state: ExistingLead): LeadEvent[] => {
  requireWorkable(state, 'qualify');
  if (state.rank === 'SQL' && data.rank === 'MQL') {
    throw new InvalidTransitionError(
      state.status,
      'A sales-qualified lead cannot go back to marketing-qualified; disqualify it instead',
    );
  }
  if (state.status === 'QUALIFIED' && state.rank === data.rank && sameValue(state.criteria, data.criteria)) {
    return [];
  }
  return [{ type: 'LeadQualified', data: withoutUndefined(data) }];
};

const disqualify = ({ data }: DisqualifyLead, state: ExistingLead, reasons: ReasonCatalog): LeadEvent[] => {
  requireWorkable(state, 'disqualify');
  if (!reasons.has(data.reason)) {
    throw new ValidationError([
      { field: 'reason', message: `unknown reason code ${data.reason}; expected one of ${reasons.codes().join(', ')}` },
    ]);
  }
  return [{ type: 'LeadDisqualified', data: withoutUndefined({ ...data, statusBefore: state.status }) }];
};

const recycle = ({ data }: RecycleLead, state: ExistingLead): LeadEvent[] => {
  if (state.status !== 'DISQUALIFIED') {
    throw new InvalidTransitionError(state.status, 'Only a disqualified lead can be recycled into a new cycle');
  }
  return [
    {
      type: 'LeadRecycled',
      data: withoutUndefined({
        leadId: data.leadId,
        cycle: state.cycle + 1,
        source: data.source ?? state.source,
        campaign: data.campaign,
        notes: data.notes,
      }),
    },
  ];
};

/** Compares as stored: key order and undefined members do not count. */
/**
 * Only a sales-qualified lead converts: conversion opens an opportunity, which is sales' work,
 * and the seeds make SQL the point where sales certifies the interest. An MQL is promoted first.
 */
export const requireConvertible = (state: ExistingLead): void => {
  if (state.status !== 'QUALIFIED') {
    throw new InvalidTransitionError(state.status, `Only a qualified lead converts; this one is ${state.status.toLowerCase()}`);
  }
  if (state.rank !== 'SQL') {
    throw new InvalidTransitionError(state.status, 'An MQL converts only once sales has qualified it as SQL');
  }
};

const convert = ({ data }: ConvertLead, state: ExistingLead): LeadEvent[] => {
  requireConvertible(state);
  return [{ type: 'LeadConverted', data: withoutUndefined({ ...data, cycle: state.cycle }) }];
};

