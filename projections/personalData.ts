/**
 * What the read models need to know about erased personal data (GDPR art. 17), shared by the
 * projections that keep copies of it (leads, contacts, opportunities).
 *
 * Two ways an erasure reaches a projection, and both must end in the same rows:
 * - live: the rows were written from events read in clear, then the `PersonalDataErased` event
 *   arrives; the projection nulls the personal columns of the rows it names, and recomputes the
 *   columns derived from them (search text, sort keys, normalised e-mail) with the same mapping
 *   that writes a row from events;
 * - a rebuild (or a projection catching up after the erasure): the same events are read with
 *   each personal field `null` and `erasedPersonalData` naming them, then the same
 *   `PersonalDataErased` event, which the projection applies the same way.
 * The handler is a function of the row's non-personal columns only, so both end equal.
 */
import type { RecordedEvent } from '../src/core/eventStore';
import { ERASED_PERSONAL_DATA, type PersonalDataErased } from '../src/domain/personalData';
import type { SqlValue } from './sqlDatabase';

export const PERSONAL_DATA_ERASED = 'PersonalDataErased' satisfies PersonalDataErased['type'];

/** Whether the event was read with personal fields erased (each of them `null`). */
export const carriesErasedPersonalData = (event: Pick<RecordedEvent, 'data'>): boolean => {
  const data = event.data as Record<string, unknown> | null | undefined;
  const fields = data?.[ERASED_PERSONAL_DATA];
  return Array.isArray(fields) && fields.length > 0;
};

/** The leads and contacts an erasure names (empty lists for an event that lacks them). */
export const erasedPeople = (event: Pick<RecordedEvent, 'data'>): { leadIds: string[]; contactIds: string[] } => {
  const data = event.data as Partial<PersonalDataErased['data']>;
  const ids = (list: unknown): string[] => (Array.isArray(list) ? list.filter((id): id is string => typeof id === 'string') : []);
  return { leadIds: ids(data.leadIds), contactIds: ids(data.contactIds) };
};

/** `?, ?, ?` for an IN list; `NULL` for an empty one (which matches nothing). */
export const placeholders = (values: readonly SqlValue[]): string =>
  values.length === 0 ? 'NULL' : values.map(() => '?').join(', ');
