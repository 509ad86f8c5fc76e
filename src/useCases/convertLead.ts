/**
 * The conversion use case: check what the request refers to, look for duplicates, decide on the
 * lead stream (the one atomic step), then complete the other streams and wait for the read models.
 */
import { findAccountDuplicates } from '../../projections/accounts/accountsReadModel';
import { findContactsByEmail } from '../../projections/contacts/contactsReadModel';
import type { SqlDatabase } from '../../projections/sqlDatabase';
import type { CommandContext } from '../core/commandHandler';
import { handleCommand, readStreamOrEmpty } from '../core/commandHandler';
import { foldEvents, type Decider } from '../core/decider';
import {
  DuplicateSuspectedError,
  InvalidTransitionError,
  NotFoundError,
  type DuplicateCandidate,
} from '../core/errors';
import type { EventStore, GlobalPosition } from '../core/eventStore';
import { digest } from '../core/ids';
import type { ContactState } from '../domain/contacts/contact';
import type { ContactCommand } from '../domain/contacts/decide';
import { type ContactEvent } from '../domain/contacts/events';
import { planConversion, type ConversionRequest } from '../domain/leads/conversion';
import { engagedConversionRequest } from '../domain/leads/engagement';
import { requireConvertible, type ConvertLead, type LeadCommand } from '../domain/leads/decide';
import { leadStreamId, type ExistingLead, type LeadConverted, type LeadEvent, type LeadState } from '../domain/leads/lead';
import type { Pipeline } from '../domain/opportunities/pipeline';
import { completeConversion, type RecordedLeadConverted } from './conversionCompleter';
import { requireAccount, requireContact } from './referenceChecks';

export interface ConversionResult {
  converted: LeadConverted['data'];
  /** Where the read models must have reached for the answer to include every stream. */
  position: GlobalPosition;
}

/** What a conversion reads and writes: narrower than the whole application, on purpose. */
export interface ConversionDependencies {
  store: EventStore;
  readDb: SqlDatabase;
  pipeline: Pipeline;
  leadDecider: Decider<LeadState, LeadCommand, LeadEvent>;
  contactDecider: Decider<ContactState, ContactCommand, ContactEvent>;
}

export const convertLead = async (
  app: ConversionDependencies,
  request: ConversionRequest,
  context: CommandContext,
  /** `authorize` may refuse from the lead's state (ownership), before any lookup or write. */
  options: { expectedRevision?: number; authorize?: (lead: LeadState) => void } = {},
): Promise<ConversionResult> => {
  const streamId = leadStreamId(request.leadId);
  const lead = foldEvents(app.leadDecider, (await readStreamOrEmpty(app.store, streamId)) as unknown as LeadEvent[]);
  if (lead.status === 'NONE') throw new NotFoundError('Lead', request.leadId);
  options.authorize?.(lead);

  if (lead.status !== 'CONVERTED') requireConvertible(lead);
  // A lead opened for a contact converts onto it, and onto its account unless the request names one.
  const planned = engagedConversionRequest(lead, request, await engagedContactAccount(app, lead));
  let existingContactAccountId: string | undefined;
  if (lead.status !== 'CONVERTED') {
    existingContactAccountId = await checkReferences(app, planned);
    if (!planned.allowDuplicate) await refuseLikelyDuplicates(app, lead, planned);
  }

  const command = conversionCommand(lead, planned, context.actor, {
    pipeline: app.pipeline,
    existingContactAccountId,
    // The client's request, as sent: a retry of it is recognised even if the contact moved since.
    requestHash: digest(request),
  });
  await handleCommand(app.store, app.leadDecider, streamId, command, context, {
    expectedRevision: options.expectedRevision,
    existingEntity: { type: 'Lead', id: request.leadId },
    authorize: options.authorize,
  });

  const converted = (await app.store.readStream(streamId)).find((event) => event.type === 'LeadConverted') as
    | RecordedLeadConverted
    | undefined;
  if (!converted || converted.data.requestHash !== command.data.requestHash) {
    throw new InvalidTransitionError('CONVERTED', 'This lead was already converted with a different request');
  }
  const position = await completeConversion(app.store, converted, context.now);
  return { converted: converted.data, position };
};

/**
 * What the lead stream is asked to decide, once the references are checked: the same for the API
 * and for the bulk seed (`src/seeding/bulkWriter.ts`), which checks them on states it holds.
 */
export const conversionCommand = (
  lead: ExistingLead,
  request: ConversionRequest,
  actor: string,
  facts: { pipeline: Pipeline; existingContactAccountId?: string; requestHash?: string },
): ConvertLead =>
  planConversion(lead, request, {
    pipeline: facts.pipeline,
    ownerId: lead.ownerId ?? actor,
    existingContactAccountId: facts.existingContactAccountId,
    requestHash: facts.requestHash ?? digest(request),
  });

/** The account the lead's own contact belongs to now, for a lead opened for a contact. */
const engagedContactAccount = async (app: ConversionDependencies, lead: ExistingLead): Promise<string | undefined> =>
  lead.contactId === undefined ? undefined : (await requireContact(app.store, app.contactDecider, lead.contactId)).accountId;

/** Returns the current account of a reused contact. */
const checkReferences = async (app: ConversionDependencies, request: ConversionRequest): Promise<string | undefined> => {
  const accountId = request.account?.existingAccountId;
  if (accountId) await requireAccount(app.store, accountId);
  if (!request.existingContactId) return undefined;
  const contact = await requireContact(app.store, app.contactDecider, request.existingContactId);
  if (contact.status === 'INACTIVE') {
    throw new InvalidTransitionError(contact.status, 'The contact to attach is inactive: reactivate it first');
  }
  return contact.accountId;
};

/**
 * Before creating an account or a contact, look for one that already is what we would create.
 * What this same lead created earlier is no duplicate: that is a retry of this conversion.
 */
const refuseLikelyDuplicates = async (app: ConversionDependencies, lead: ExistingLead, request: ConversionRequest) => {
  const candidates: DuplicateCandidate[] = [];
  if (!request.account?.existingAccountId) {
    const wanted = request.account?.new;
    const fromLead = !wanted || wanted.kind === 'COMPANY' ? lead.company : undefined;
    const accounts = await findAccountDuplicates(app.readDb, {
      name: wanted?.name ?? fromLead?.name,
      website: wanted?.website ?? fromLead?.website,
      email: !wanted || wanted.kind === 'COMPANY' ? lead.person?.email : undefined,
    });
    for (const account of accounts) {
      if (account.fromLeadId === lead.leadId) continue;
      candidates.push({ entity: 'Account', id: account.id, name: account.name, matchedOn: account.matchedOn });
    }
  }
  if (!request.existingContactId && lead.person?.email) {
    for (const contact of await findContactsByEmail(app.readDb, lead.person.email)) {
      if (contact.fromLeadId === lead.leadId) continue;
      const name = [contact.firstName, contact.lastName].filter(Boolean).join(' ');
      candidates.push({ entity: 'Contact', id: contact.id, name, matchedOn: 'EMAIL' });
    }
  }
  if (candidates.length > 0) throw new DuplicateSuspectedError(candidates);
};
