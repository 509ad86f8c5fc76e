/**
 * Who a person is, across the log: a lead or contact id leads to every lead cycle and contact of
 * the same person (a lead and the contact it became or joined, or was opened for; a contact and
 * every lead linked to it or opened for it), and to every key their personal data was sealed under. Read from the events as stored,
 * so the answer holds whatever the read models say.
 */
import { readStreamOrEmpty } from '../../core/commandHandler';
import type { EventStore, RecordedEvent } from '../../core/eventStore';
import { contactStreamId } from '../../domain/contacts/events';
import { leadStreamId } from '../../domain/leads/lead';
import { personalFieldsOf } from '../../domain/personalData';
import { NotFoundError } from '../../core/errors';
import { envelopeOf, valueAt } from '../../personalData/envelope';

export interface Person {
  subjectId: string;
  leadIds: string[];
  contactIds: string[];
  /** Every key named on those streams. */
  keyIds: string[];
  /** The person's events, as stored (sealed), by stream. */
  streams: Map<string, RecordedEvent[]>;
  /** Events written before encryption, with personal fields in clear: erasure cannot reach them. */
  unsealedEvents: RecordedEvent[];
}

/** A bound on the walk, far above any real person (a contact with this many lead cycles is a bug). */
const MAX_STREAMS = 1000;

/** The person behind a lead or contact id; `NotFoundError` when it is neither. */
export const findPerson = async (sealedStore: EventStore, subjectId: string): Promise<Person> => {
  const leads = new Set<string>();
  const contacts = new Set<string>();
  const streams = new Map<string, RecordedEvent[]>();
  const pending: { kind: 'lead' | 'contact'; id: string }[] = [];

  const asLead = await readStreamOrEmpty(sealedStore, leadStreamId(subjectId));
  const asContact = asLead.length > 0 ? [] : await readStreamOrEmpty(sealedStore, contactStreamId(subjectId));
  if (asLead.length === 0 && asContact.length === 0) throw new NotFoundError('Lead or contact', subjectId);
  pending.push({ kind: asLead.length > 0 ? 'lead' : 'contact', id: subjectId });

  while (pending.length > 0 && streams.size < MAX_STREAMS) {
    const { kind, id } = pending.pop()!;
    const known = kind === 'lead' ? leads : contacts;
    if (known.has(id)) continue;
    const streamId = kind === 'lead' ? leadStreamId(id) : contactStreamId(id);
    const events = await readStreamOrEmpty(sealedStore, streamId);
    if (events.length === 0) continue;
    known.add(id);
    streams.set(streamId, events);
    for (const event of events) {
      const data = event.data as Record<string, unknown>;
      if (event.type === 'LeadConverted' && typeof data.contactId === 'string') pending.push({ kind: 'contact', id: data.contactId });
      if (event.type === 'ContactCreated' && typeof data.fromLeadId === 'string') pending.push({ kind: 'lead', id: data.fromLeadId });
      if (event.type === 'ContactLinkedToLead' && typeof data.leadId === 'string') pending.push({ kind: 'lead', id: data.leadId });
      // A lead cycle opened for an existing contact (engageContact): named on both streams.
      if (event.type === 'LeadCaptured' && typeof data.contactId === 'string') pending.push({ kind: 'contact', id: data.contactId });
      if (event.type === 'ContactEngaged' && typeof data.leadId === 'string') pending.push({ kind: 'lead', id: data.leadId });
    }
  }

  const keyIds = new Set<string>();
  const unsealedEvents: RecordedEvent[] = [];
  for (const events of streams.values()) {
    for (const event of events) {
      const envelope = envelopeOf(event.data);
      if (envelope) keyIds.add(envelope.keyId);
      else if (personalFieldsOf(event.type).some((path) => valueAt(event.data, path) != null)) unsealedEvents.push(event);
    }
  }
  return {
    subjectId,
    leadIds: [...leads].sort(),
    contactIds: [...contacts].sort(),
    keyIds: [...keyIds].sort(),
    streams,
    unsealedEvents,
  };
};
