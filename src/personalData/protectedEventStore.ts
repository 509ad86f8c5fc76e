/**
 * Crypto-shredding at the event-store port: every adapter (SQLite, PostgreSQL, EventStoreDB,
 * in-memory) stores personal fields sealed under the person's key, and every reader (command
 * handler, projections, time travel, audit, export) gets them back in clear, or, once the key is
 * destroyed, as `null` with `erasedPersonalData` naming them. Nothing above this file handles
 * ciphertext; nothing below it sees plaintext.
 *
 * Which key: a lead's stream and a contact's stream each get a key with their first event
 * (a contact made by converting a lead shares the lead's, and a lead opened for an existing
 * contact shares the contact's: one person); an opportunity's text is
 * sealed under the key of the lead it came from, else of its contact; any other stream's under
 * the first key named on it, or a new one. Every later event of a stream reuses its key.
 *
 * Reads follow the log's order: once a `PersonalDataErased` event has been read or written,
 * its keys count as destroyed for every event read after it, so a projection catching up never
 * copies plaintext that a rebuild would not see.
 */
import { PersonalDataErasedError } from '../core/errors';
import type {
  AppendResult,
  EventStore,
  ExpectedRevision,
  NewEvent,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  StreamAppend,
  SubscribeOptions,
  Subscription,
} from '../core/eventStore';
import { NO_STREAM, sqliteFileOf, StreamNotFoundError, type SqliteLogFile } from '../core/eventStore';
import { contactStreamId } from '../domain/contacts/events';
import { leadStreamId } from '../domain/leads/lead';
import { KEY_NAMING_EVENTS, personalFieldsOf, type PersonalDataErased } from '../domain/personalData';
import { open, seal } from './cipher';
import { OpenerThread, type OpenedValues, type SealedValue } from './openerThread';
import { ENVELOPE, envelopeOf, erasedView, restorePersonal, takePersonal, withoutEnvelope, type Envelope } from './envelope';
import type { KeyStore } from './keyStore';
import { BoundedMap } from '../core/boundedMap';

const MAX_STREAM_KEYS = 200_000;
const MAX_JUST_SEALED = 4096;
/**
 * A read with at least this many values to open opens them on the opener thread (a rebuild's
 * pages, an export), where the main thread goes on meanwhile; fewer open here, without the trip.
 */
const OPEN_ON_THREAD_FROM = 64;

type Json = Record<string, unknown>;

const associatedData = (keyId: string, eventType: string): string => `crm-personal-data:${keyId}:${eventType}`;

export interface ProtectedEventStore extends EventStore, SqliteLogFile {
  readonly keyStore: KeyStore;
  /** The store underneath, which returns events as stored (sealed). */
  readonly sealed: EventStore;
  /**
   * Starts the thread that opens large reads' sealed values; resolves once it is ready. Until then
   * large reads open on the caller's thread, so a rebuild starts it first, and its first pages
   * never wait for it.
   */
  warmOpener(): Promise<void>;
}

export const protectEventStore = (inner: EventStore, keyStore: KeyStore): ProtectedEventStore => {
  const opener = new OpenerThread();
  /** Stream → the key its personal data is sealed under (immutable once known). */
  const streamKeys = new BoundedMap<string, string>(MAX_STREAM_KEYS);

  const rememberStreamKey = (streamId: string, keyId: string) => {
    if (streamKeys.has(streamId)) return;
    // The oldest goes, never the streams just opened: a bulk append seals a lead's conversion
    // under the key its capture took earlier in the same, not yet committed, batch.
    streamKeys.set(streamId, keyId);
  };

  /** The key named on a stream already written (reads it when not known yet), and its first event. */
  const inspectStream = async (streamId: string): Promise<{ keyId?: string; first?: RecordedEvent }> => {
    const known = streamKeys.get(streamId);
    if (known) return { keyId: known };
    let events: RecordedEvent[];
    try {
      events = await inner.readStream(streamId);
    } catch (error) {
      if (error instanceof StreamNotFoundError) return {};
      throw error;
    }
    const keyId = events.map((event) => envelopeOf(event.data)?.keyId).find((id) => id !== undefined);
    if (keyId) rememberStreamKey(streamId, keyId);
    return { keyId, first: events[0] };
  };

  /**
   * A contact made from a lead, and an opportunity, are about the person of their lead, else of
   * their contact; a lead opened for an existing contact (`engageContact`) is about the contact's.
   */
  const borrowedKey = async (opening: { type: string; data: unknown }): Promise<string | undefined> => {
    const data = opening.data as Json;
    const fromLead = typeof data.fromLeadId === 'string' ? data.fromLeadId : undefined;
    if ((opening.type === 'ContactCreated' || opening.type === 'OpportunityOpened') && fromLead) {
      return (await inspectStream(leadStreamId(fromLead))).keyId;
    }
    if ((opening.type === 'OpportunityOpened' || opening.type === 'LeadCaptured') && typeof data.contactId === 'string') {
      return (await inspectStream(contactStreamId(data.contactId))).keyId;
    }
    return undefined;
  };

  /** Whether the first event of a stream may take its key from another stream (see `borrowedKey`). */
  const mayBorrow = (event: NewEvent): boolean => {
    const data = event.data as Json;
    return (
      event.type === 'OpportunityOpened' ||
      (event.type === 'ContactCreated' && data.fromLeadId !== undefined) ||
      (event.type === 'LeadCaptured' && data.contactId !== undefined)
    );
  };

  /** `newStream`: the append expects no stream, so there is no key on it to look for. */
  const keyForAppend = async (streamId: string, event: NewEvent, newStream: boolean): Promise<string> => {
    const known = streamKeys.get(streamId);
    if (known) return known;
    const onStream = newStream ? {} : await inspectStream(streamId);
    const keyId = onStream.keyId ?? (await borrowedKey(onStream.first ?? event)) ?? (await keyStore.allocate()).keyId;
    rememberStreamKey(streamId, keyId);
    return keyId;
  };

  /**
   * An event's personal fields taken out, or the event as it goes to the store when there is
   * nothing to seal: no personal field and no key to name, or sealed already (copied from another
   * store with its keys by migrate-events: never sealed twice).
   */
  const split = (event: NewEvent): { ready: NewEvent } | { clear: Json; personal: Record<string, unknown>; fields: string[] } => {
    const paths = personalFieldsOf(event.type);
    const namesKey = KEY_NAMING_EVENTS.has(event.type);
    if ((paths.length === 0 && !namesKey) || envelopeOf(event.data)) return { ready: event };
    const taken = takePersonal(event.data as Json, paths);
    return taken.fields.length === 0 && !namesKey ? { ready: { ...event, data: taken.clear } } : taken;
  };

  /**
   * The key, without an await, on the path of nearly every write: the stream's key is known and
   * cached, or the stream is new, borrows no key, and takes one made ahead. Undefined otherwise.
   */
  const keyAtOnce = (streamId: string, event: NewEvent, newStream: boolean): { keyId: string; key: Buffer | null } | undefined => {
    const known = streamKeys.get(streamId);
    if (known !== undefined) {
      const key = keyStore.cached(known);
      return key === undefined ? undefined : { keyId: known, key };
    }
    if (!newStream || mayBorrow(event)) return undefined;
    const fresh = keyStore.takeReady();
    if (fresh !== undefined) rememberStreamKey(streamId, fresh.keyId);
    return fresh;
  };

  /**
   * What this process sealed last, by event id: the projections read those events back moments
   * later, and need not decrypt them again (a capture is then one encryption, no decryption).
   * Used only while the key is at hand: an erasure in between still reads as erased. The data
   * put back together is kept too, for the next reader of the same event (the projection runner
   * and the conversion completer both follow the log): shared, not copied, because event data is
   * never changed by its readers (the domain folds it into new states, projections into rows).
   */
  const justSealed = new BoundedMap<string, { personal: Record<string, unknown>; revealed?: Json }>(MAX_JUST_SEALED);
  const rememberSealed = (eventId: string, personal: Record<string, unknown>) => {
    justSealed.set(eventId, { personal });
  };

  /** `key` is read only when there is something to seal (undefined: not looked up). */
  const sealUnder = (
    streamId: string,
    event: NewEvent,
    { clear, personal, fields }: { clear: Json; personal: Record<string, unknown>; fields: string[] },
    keyId: string,
    key: Buffer | null | undefined,
  ): NewEvent => {
    if (fields.length === 0) return { ...event, data: { ...clear, [ENVELOPE]: { keyId } satisfies Envelope } };
    if (!key) throw new PersonalDataErasedError(streamId, fields);
    rememberSealed(event.id, personal);
    const box = seal(key, Buffer.from(JSON.stringify(personal), 'utf8'), associatedData(keyId, event.type));
    const envelope: Envelope = { keyId, fields, sealed: box.toString('base64url') };
    return { ...event, data: { ...clear, [ENVELOPE]: envelope } };
  };

  /**
   * Seals at once when the key is at hand (no await on the path of nearly every write); looks
   * the key up otherwise. The first event of a new stream may take a key made ahead; later ones
   * find it on the stream.
   */
  const protect = (streamId: string, event: NewEvent, newStream: boolean, first: boolean): NewEvent | Promise<NewEvent> => {
    const parts = split(event);
    if ('ready' in parts) return parts.ready;
    const atOnce = keyAtOnce(streamId, event, newStream && first);
    if (atOnce) return sealUnder(streamId, event, parts, atOnce.keyId, atOnce.key);
    return (async () => {
      const keyId = await keyForAppend(streamId, event, newStream);
      const key = parts.fields.length === 0 ? undefined : (await keyStore.keys([keyId])).get(keyId);
      return sealUnder(streamId, event, parts, keyId, key);
    })();
  };

  /** The events of one append, sealed; an await only when a key has to be looked up or made. */
  const protectAll = async (streamId: string, events: readonly NewEvent[], expectedRevision: ExpectedRevision): Promise<NewEvent[]> => {
    const protectedEvents: NewEvent[] = [];
    const newStream = expectedRevision === NO_STREAM;
    for (const event of events) {
      const sealedEvent = protect(streamId, event, newStream, protectedEvents.length === 0);
      protectedEvents.push(sealedEvent instanceof Promise ? await sealedEvent : sealedEvent);
    }
    return protectedEvents;
  };

  /** Once an erasure is written, its keys are not used again by this process. */
  const forgetErased = (events: readonly NewEvent[]) => {
    for (const event of events) {
      if (event.type === 'PersonalDataErased') keyStore.forget((event.data as PersonalDataErased['data']).keyIds);
    }
  };

  /** The keys the events are sealed under, each read once (`keys`: what is known already). */
  const keysNamedBy = (events: readonly RecordedEvent[], envelopes: readonly (Envelope | undefined)[], keys: Map<string, Buffer | null>): Set<string> => {
    const wanted = new Set<string>();
    envelopes.forEach((envelope, index) => {
      if (!envelope) return;
      rememberStreamKey(events[index]!.streamId, envelope.keyId);
      if (!envelope.sealed || keys.has(envelope.keyId)) return;
      const cached = keyStore.cached(envelope.keyId);
      if (cached === undefined) wanted.add(envelope.keyId);
      else keys.set(envelope.keyId, cached);
    });
    return wanted;
  };

  /**
   * The sealed values `openAll` would open itself (their key at hand, not sealed by this process
   * just now), and the index of each one's event; an erasure among the events counts for those
   * after it.
   */
  const toOpen = (
    events: readonly RecordedEvent[],
    envelopes: readonly (Envelope | undefined)[],
    keys: ReadonlyMap<string, Buffer | null>,
  ): { values: SealedValue[]; eventIndexes: number[] } => {
    const erasedHere = new Set<string>();
    const values: SealedValue[] = [];
    const eventIndexes: number[] = [];
    events.forEach((event, index) => {
      if (event.type === 'PersonalDataErased') {
        for (const keyId of (event.data as PersonalDataErased['data']).keyIds ?? []) erasedHere.add(keyId);
        return;
      }
      const envelope = envelopes[index];
      if (!envelope?.sealed || !envelope.fields || erasedHere.has(envelope.keyId) || justSealed.has(event.id)) return;
      const key = keys.get(envelope.keyId);
      if (!key) return;
      values.push({ key, sealed: envelope.sealed, associatedData: associatedData(envelope.keyId, event.type) });
      eventIndexes.push(index);
    });
    return { values, eventIndexes };
  };

  /**
   * Opens the events in log order, with their keys at hand; an erasure among them counts for those
   * after it. `owned`: the events were just read for this caller alone (`readAll`, `readStream`:
   * each read returns new objects), so their data is put back together in place, not copied (a
   * rebuild's pages then leave one set of objects per page to the garbage collector, not two).
   * `opened`: what the opener thread opened, and by event index which of its values (-1: none)
   * belongs to each event.
   */
  const openAll = <E extends RecordedEvent>(
    events: readonly E[],
    envelopes: readonly (Envelope | undefined)[],
    keys: Map<string, Buffer | null>,
    owned: boolean,
    opened?: { results: OpenedValues; valueOf: Int32Array },
  ): E[] =>
    events.map((event, index) => {
      if (event.type === 'PersonalDataErased') {
        const erased = (event.data as PersonalDataErased['data']).keyIds ?? [];
        keyStore.forget(erased);
        for (const keyId of erased) keys.set(keyId, null);
        return event;
      }
      const envelope = envelopes[index];
      if (!envelope) return event;
      const data = event.data as Json;
      const withData = (revealed: Json): E => (revealed === data ? event : { ...event, data: revealed });
      if (!envelope.sealed || !envelope.fields) return withData(withoutEnvelope(data, owned));
      const key = keys.get(envelope.keyId);
      if (!key) return withData(erasedView(data, envelope.fields, owned));
      const known = justSealed.get(event.id);
      // Shared with the next reader of the same event: never changed in place.
      if (known) return { ...event, data: (known.revealed ??= restorePersonal(data, known.personal)) };
      const at = opened ? opened.valueOf[index]! : -1;
      if (at >= 0 && opened!.results.errors[at] !== undefined) throw new Error(opened!.results.errors[at]);
      const personal =
        at >= 0
          ? opened!.results.personals[at]!
          : (JSON.parse(open(key, Buffer.from(envelope.sealed, 'base64url'), associatedData(envelope.keyId, event.type)).toString('utf8')) as Record<string, unknown>);
      return withData(restorePersonal(data, personal, owned));
    });

  /** `owned`: as `openAll`'s. */
  const reveal = async <E extends RecordedEvent>(events: readonly E[], owned: boolean): Promise<E[]> => {
    const envelopes = events.map((event) => envelopeOf(event.data));
    const keys = new Map<string, Buffer | null>();
    const wanted = keysNamedBy(events, envelopes, keys);
    if (wanted.size > 0) for (const [keyId, key] of await keyStore.keys(wanted)) keys.set(keyId, key);
    if (events.length < OPEN_ON_THREAD_FROM) return openAll(events, envelopes, keys, owned);
    const { values, eventIndexes } = toOpen(events, envelopes, keys);
    if (values.length < OPEN_ON_THREAD_FROM) return openAll(events, envelopes, keys, owned);
    if (!opener.started) {
      // Starting the thread takes longer than opening one page here: this page opens here.
      void opener.warm();
      return openAll(events, envelopes, keys, owned);
    }
    // Started (a rebuild warms it first) but maybe not known ready yet: its ready message waits
    // for the main thread to turn to its event loop, which a rebuild on SQLite seldom does between
    // pages. The page is posted anyway; the thread takes it as soon as it runs.
    const results = await opener.open(values);
    const valueOf = new Int32Array(events.length).fill(-1);
    eventIndexes.forEach((eventIndex, at) => (valueOf[eventIndex] = at));
    return openAll(events, envelopes, keys, owned, { results, valueOf });
  };

  /**
   * As `reveal` (of a read for this caller alone), for the events of the types `opens` says yes
   * to and the erasures among them, in log order (an erasure counts for those after it); the
   * others are returned as stored, sealed, and cost nothing to open.
   */
  const revealOnly = async <E extends RecordedEvent>(events: readonly E[], opens: (eventType: string) => boolean): Promise<E[]> => {
    const wanted: E[] = [];
    const at: number[] = [];
    events.forEach((event, index) => {
      if (event.type !== 'PersonalDataErased' && !opens(event.type)) return;
      wanted.push(event);
      at.push(index);
    });
    if (wanted.length === events.length) return reveal(events, true);
    const revealed = await reveal(wanted, true);
    const result = [...events];
    at.forEach((index, nth) => (result[index] = revealed[nth]!));
    return result;
  };

  /** As `reveal`, without an await when every key is at hand (a live subscription, nearly always). */
  const revealAtOnce = <E extends RecordedEvent>(events: readonly E[]): E[] | undefined => {
    const envelopes = events.map((event) => envelopeOf(event.data));
    const keys = new Map<string, Buffer | null>();
    return keysNamedBy(events, envelopes, keys).size > 0 ? undefined : openAll(events, envelopes, keys, false);
  };

  return {
    name: inner.name,
    appendsToStreamsAtomically: inner.appendsToStreamsAtomically,
    // Personal data is sealed in an event's data only: what is read in SQL is its metadata.
    sqliteFile: sqliteFileOf(inner),
    keyStore,
    sealed: inner,
    async appendToStream(streamId: string, events: readonly NewEvent[], options: { expectedRevision: ExpectedRevision }): Promise<AppendResult> {
      const result = await inner.appendToStream(streamId, await protectAll(streamId, events, options.expectedRevision), options);
      forgetErased(events);
      return result;
    },
    /** Each entry sealed as `appendToStream` seals it, in order, so a stream opened by an earlier entry lends its key to later ones. */
    async appendToStreams(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
      const protectedAppends: StreamAppend[] = [];
      for (const entry of appends) {
        protectedAppends.push({ ...entry, events: await protectAll(entry.streamId, entry.events, entry.expectedRevision) });
      }
      const results = await inner.appendToStreams(protectedAppends);
      for (const entry of appends) forgetErased(entry.events);
      return results;
    },
    async readStream(streamId: string, options?: ReadStreamOptions) {
      return reveal(await inner.readStream(streamId, options), true);
    },
    async readAll(options?: ReadAllOptions) {
      const events = await inner.readAll(options);
      return options?.opensPersonalDataOf ? revealOnly(events, options.opensPersonalDataOf) : reveal(events, true);
    },
    subscribeToAll(options: SubscribeOptions): Subscription {
      return inner.subscribeToAll({
        ...options,
        // Synchronous when the key is at hand, so the subscriber's batching works as on a bare store.
        onEvent: (event) => {
          const atOnce = revealAtOnce([event]);
          if (atOnce) return options.onEvent(atOnce[0]!);
          return reveal([event], false).then(([revealed]) => options.onEvent(revealed!));
        },
      });
    },
    headPosition: () => inner.headPosition(),
    comparePositions: (a, b) => inner.comparePositions(a, b),
    warmOpener: () => opener.warm(),
    async close() {
      await opener.close();
      await inner.close();
    },
  };
};
