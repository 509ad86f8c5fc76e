/**
 * Who may run what: every query and mutation names the roles that may run it, in one table,
 * checked before anything executes (`authorizeOperation`), printed into each field's SDL
 * description and answered by `me`. Rules that depend on the entity (ownership) or on an
 * argument (marketing qualifies MQL only) are checked where the entity is known (`ownership.ts`).
 */
import type { GraphQLSchema } from 'graphql';
import { ForbiddenError } from '../../core/errors';
import type { Identity } from '../../identity/jwt';

export const ROLES = ['marketing', 'sales', 'sales_manager', 'analyst', 'auditor', 'privacy_officer', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** The roles a token holds that this API knows; unknown ones grant nothing. */
export const knownRoles = (identity: Identity | undefined): Role[] =>
  ROLES.filter((role) => identity?.roles.includes(role));

export const hasAnyRole = (identity: Identity | undefined, roles: readonly Role[]): boolean =>
  roles.some((role) => identity?.roles.includes(role));

const LEAD_WORK: readonly Role[] = ['marketing', 'sales', 'sales_manager', 'admin'];
const SALES_WORK: readonly Role[] = ['sales', 'sales_manager', 'admin'];
const MANAGERS: readonly Role[] = ['sales_manager', 'admin'];
const LIST_WORK: readonly Role[] = ['marketing', 'sales_manager', 'admin'];
const LEAD_READERS: readonly Role[] = ['marketing', 'sales', 'sales_manager', 'analyst', 'privacy_officer', 'admin'];
const SALES_READERS: readonly Role[] = ['sales', 'sales_manager', 'analyst', 'admin'];
const AUDIT: readonly Role[] = ['analyst', 'auditor', 'admin'];
/** Personal data as such (access reports, erasure): data protection's, not the business's nor the auditors'. */
const PRIVACY: readonly Role[] = ['privacy_officer', 'admin'];
const EVERY_ROLE: readonly Role[] = ROLES;

/** The sections of a KPI report beyond the lead funnel: sales figures, which marketing does not read. */
export const SALES_FIGURES: readonly Role[] = SALES_READERS;

/** Who may rank a lead SQL: marketing ranks MQL only. */
export const SQL_QUALIFIERS: readonly Role[] = SALES_WORK;

/** Why a role list is what it is, where the table alone does not say it. */
export const OPERATION_ROLES: Readonly<Record<string, readonly Role[]>> = {
  // Leads: marketing generates and nurtures them; sales works its own (ownership.ts).
  captureLead: LEAD_WORK,
  engageContact: LEAD_WORK, // a new lead cycle for a known contact: whoever may capture leads
  updateLeadDetails: LEAD_WORK,
  logLeadContact: LEAD_WORK,
  logQuoteRequest: LEAD_WORK,
  qualifyLead: LEAD_WORK, // marketing: MQL only
  disqualifyLead: LEAD_WORK,
  recycleLead: LEAD_WORK,
  scoreLead: LEAD_WORK,
  assignLead: SALES_WORK, // sales: an unowned lead to itself
  rescoreOpenLeads: MANAGERS,
  // A re-scoring job: followed by those who may start one (whoever of them started it).
  scoringJob: MANAGERS,
  // Lead lists: marketing segments leads and hands them over; reassigning owned leads is a
  // manager's (assignLeadList with onlyUnassigned: false, checked in the resolver).
  createLeadList: LIST_WORK,
  renameLeadList: LIST_WORK,
  addLeadsToList: LIST_WORK,
  removeLeadsFromList: LIST_WORK,
  archiveLeadList: LIST_WORK,
  assignLeadList: LIST_WORK,
  // Bulk import, back-dated beyond the window: marketing's and operators' (API.md: "imports").
  importLeads: ['marketing', 'admin'],
  convertLead: SALES_WORK,
  // Accounts, contacts, opportunities: the sales side.
  openAccount: SALES_WORK,
  updateAccount: SALES_WORK,
  createContact: SALES_WORK,
  updateContact: SALES_WORK,
  moveContact: SALES_WORK,
  deactivateContact: SALES_WORK,
  reactivateContact: SALES_WORK,
  openOpportunity: SALES_WORK,
  moveOpportunityStage: SALES_WORK,
  updateOpportunity: SALES_WORK,
  addQuote: SALES_WORK,
  changeQuoteStatus: SALES_WORK,
  scheduleActivity: SALES_WORK,
  completeActivity: SALES_WORK,
  reopenActivity: SALES_WORK,
  closeOpportunity: SALES_WORK,
  reopenOpportunity: MANAGERS,
  // Reads. Time travel (asOf, knownAt) is part of lead, opportunity and pipeline: auditors use it.
  lead: [...LEAD_READERS, 'auditor'],
  leads: LEAD_READERS,
  leadList: LEAD_READERS,
  leadLists: LEAD_READERS,
  contact: [...SALES_READERS, 'privacy_officer'],
  contacts: [...SALES_READERS, 'privacy_officer'],
  account: SALES_READERS,
  accounts: SALES_READERS,
  opportunity: [...SALES_READERS, 'auditor'],
  opportunities: SALES_READERS,
  pipeline: [...SALES_READERS, 'auditor'],
  kpis: ['marketing', ...SALES_READERS], // marketing: the lead sections only (KpiReport fields)
  retrospective: ['analyst', 'admin'],
  // How reported figures moved since: the retrospective's readers, and the auditors the issue names as
  // the ones who ask when a closed month moves (they read facts and traces, not the KPIs themselves).
  kpiRestatements: AUDIT,
  reproduceScore: ['sales_manager', ...AUDIT],
  history: AUDIT,
  auditTrail: AUDIT,
  conversionTrace: AUDIT,
  // Subscriptions: the same readers as the queries they follow.
  leadChanged: LEAD_READERS,
  opportunityChanged: SALES_READERS,
  pipelineChanged: [...SALES_READERS, 'auditor'],
  events: AUDIT, // the event export's readers
  // Personal data (GDPR): what is held about a person, and erasing it.
  personalData: PRIVACY,
  erasePersonalData: PRIVACY,
  // Catalogs and configuration a client needs to build its forms.
  disqualificationReasons: EVERY_ROLE,
  lossReasons: EVERY_ROLE,
  pipelineStages: EVERY_ROLE,
  scoringRules: EVERY_ROLE,
  // Any valid token, even one with no known role.
  me: [],
};

/**
 * Fields inside an answer that are narrower than the operation that returns them
 * (`Type.field` → roles), checked before execution like the operations themselves.
 */
export const FIELD_ROLES: Readonly<Record<string, readonly Role[]>> = {
  'KpiReport.lossReasons': SALES_FIGURES,
  'KpiReport.salesOutcomes': SALES_FIGURES,
  'KpiReport.timeInStage': SALES_FIGURES,
  'KpiReport.pipelineValue': SALES_FIGURES,
};

/** The roles an operation needs; an operation missing from the table is admin's only (fail closed). */
export const rolesFor = (operation: string): readonly Role[] => OPERATION_ROLES[operation] ?? ['admin'];

/** May this identity run this root field? `me` is open to every valid token. */
export const mayRun = (identity: Identity | undefined, operation: string): boolean =>
  operation === 'me' || hasAnyRole(identity, rolesFor(operation));

export const requireRoles = (identity: Identity | undefined, roles: readonly Role[], what: string): void => {
  if (!hasAnyRole(identity, roles)) throw new ForbiddenError(what, roles);
};

/** The roles line appended to each root field's SDL description. */
export const rolesDescription = (operation: string): string => {
  const roles = rolesFor(operation);
  return roles.length === 0 ? 'Roles: any valid token.' : `Roles: ${roles.join(', ')}.`;
};

/** Writes each root field's roles into its description, so the SDL documents the table. */
export const describeRoles = (schema: GraphQLSchema): void => {
  for (const type of [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]) {
    for (const field of Object.values(type?.getFields() ?? {})) {
      const line = rolesDescription(field.name);
      field.description = field.description ? `${field.description}\n\n${line}` : line;
    }
  }
};
