/**
 * The answer to an access request (GDPR art. 15): every personal value the system holds about a
 * person, opened, each with where it came from (the event, its time, who recorded it). The events
 * are the only source: every read model is a copy of them and holds nothing they do not.
 */
import { opportunityIdsOfPeople } from '../../../projections/opportunities/opportunitiesQueries';
import type { SqlDatabase } from '../../../projections/sqlDatabase';
import { readStreamOrEmpty } from '../../core/commandHandler';
import type { EventStore, RecordedEvent } from '../../core/eventStore';
import { opportunityStreamId } from '../../domain/opportunities/events';
import { ERASED_PERSONAL_DATA, personalDataStreamId, personalFieldsOf, type PersonalDataErased } from '../../domain/personalData';
import { envelopeOf, valueAt } from '../../personalData/envelope';
import { findPerson } from './person';

export interface PersonalValue {
  streamId: string;
  eventId: string;
  eventType: string;
  revision: number;
  /** The field's path in the event's data (`person`, `notes`, `newContact.email`). */
  field: string;
  /** The value as recorded; null once erased. */
  value: unknown;
  erased: boolean;
  /** False for an event written before encryption: its value is in clear in the log. */
  sealed: boolean;
  recordedAt: string;
  occurredAt: string;
  actor: string;
}

export interface ErasureRecord {
  erasure: PersonalDataErased['data'];
  erasedAt: string;
  erasedBy: string;
}

export interface PersonalDataReport {
  subjectId: string;
  leadIds: string[];
  contactIds: string[];
  opportunityIds: string[];
  erasures: ErasureRecord[];
  values: PersonalValue[];
}

export interface AccessDeps {
  store: EventStore;
  sealedStore: EventStore;
  readDb: SqlDatabase;
}

export const personalDataReport = async (deps: AccessDeps, subjectId: string): Promise<PersonalDataReport> => {
  const person = await findPerson(deps.sealedStore, subjectId);
  const opportunityIds = await opportunityIdsOfPeople(deps.readDb, person);
  const keyIds = new Set(person.keyIds);

  const values: PersonalValue[] = [];
  const collect = async (streamId: string, onlyOwnKeys: boolean) => {
    const sealed = onlyOwnKeys ? await readStreamOrEmpty(deps.sealedStore, streamId) : person.streams.get(streamId) ?? [];
    // On an opportunity, only what was sealed under this person's keys is about them.
    const ofPerson = new Set(
      sealed.filter((event) => !onlyOwnKeys || keyIds.has(envelopeOf(event.data)?.keyId ?? '')).map((event) => event.id),
    );
    if (ofPerson.size === 0) return;
    const opened = await readStreamOrEmpty(deps.store, streamId);
    const wasSealed = new Set(sealed.filter((event) => envelopeOf(event.data)).map((event) => event.id));
    for (const event of opened) if (ofPerson.has(event.id)) values.push(...valuesOf(event, wasSealed.has(event.id)));
  };
  for (const streamId of person.streams.keys()) await collect(streamId, false);
  for (const opportunityId of opportunityIds) await collect(opportunityStreamId(opportunityId), true);

  const erasures: ErasureRecord[] = [];
  for (const id of [...person.leadIds, ...person.contactIds]) {
    for (const event of await readStreamOrEmpty(deps.store, personalDataStreamId(id))) {
      erasures.push({
        erasure: event.data as PersonalDataErased['data'],
        erasedAt: event.metadata.recordedAt,
        erasedBy: event.metadata.actor,
      });
    }
  }
  erasures.sort((a, b) => a.erasedAt.localeCompare(b.erasedAt));

  return {
    subjectId,
    leadIds: person.leadIds,
    contactIds: person.contactIds,
    opportunityIds,
    erasures,
    values,
  };
};

const valuesOf = (event: RecordedEvent, sealed: boolean): PersonalValue[] => {
  const erasedFields = new Set((event.data as Record<string, unknown>)[ERASED_PERSONAL_DATA] as string[] | undefined);
  return personalFieldsOf(event.type)
    .filter((field) => valueAt(event.data, field) !== undefined)
    .map((field) => ({
      streamId: event.streamId,
      eventId: event.id,
      eventType: event.type,
      revision: event.revision,
      field,
      value: valueAt(event.data, field),
      erased: erasedFields.has(field),
      sealed,
      recordedAt: event.metadata.recordedAt,
      occurredAt: event.metadata.occurredAt,
      actor: event.metadata.actor,
    }));
};
