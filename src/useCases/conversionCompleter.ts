/**
 * Appends the account, contact and opportunity events that a `LeadConverted` fact calls for, and
 * the contact's `ContactEngaged` that a `LeadCaptured` opened for a contact calls for.
 * Every append is idempotent (ids derived from the fact, the stream checked first), so the API
 * completes a conversion inline and the background completer may redo it after a crash without
 * ever writing anything twice.
 */
import { readStreamOrEmpty, SCHEMA_VERSION } from '../core/commandHandler';
import {
  ConcurrencyConflictError,
  NO_STREAM,
  type EventMetadata,
  type EventStore,
  type GlobalPosition,
  type NewEvent,
  type RecordedEvent,
  type Subscription,
} from '../core/eventStore';
import { failpoint } from '../core/failpoints';
import { FIRST_PAUSE_AFTER_UNAVAILABLE_MS, isStoreUnavailable, nextPauseAfterUnavailable } from '../core/storeErrors';
import { deterministicId, withTimeOf } from '../core/ids';
import type { SqlDatabase } from '../../projections/sqlDatabase';
import { conversionFollowUps, followUpTimes, type FollowUp } from '../domain/leads/conversion';
import { engagementFollowUp } from '../domain/leads/engagement';
import type { LeadCaptured, LeadConverted } from '../domain/leads/lead';

export type RecordedLeadConverted = RecordedEvent<'LeadConverted', LeadConverted['data']>;
export type RecordedLeadCaptured = RecordedEvent<'LeadCaptured', LeadCaptured['data']>;

const MAX_ATTEMPTS = 10;

/** Returns the global position of the last event the conversion needs, once all are stored. */
export const completeConversion = async (
  store: EventStore,
  converted: RecordedLeadConverted,
  now: Date,
): Promise<GlobalPosition> => {
  let last = converted.position;
  failpoint('conversion:before-follow-ups');
  for (const [index, followUp] of conversionFollowUps(converted.data).entries()) {
    const position = await appendFollowUpOnce(store, converted, followUp, now);
    if (store.comparePositions(position, last) > 0) last = position;
    if (index === 0) failpoint('conversion:after-first-follow-up');
  }
  return last;
};

/**
 * Appends the contact's `ContactEngaged` that a lead opened for it calls for (nothing for a lead
 * captured as a stranger); returns the position of the last event the engagement needs.
 */
export const completeEngagement = async (store: EventStore, captured: RecordedLeadCaptured, now: Date): Promise<GlobalPosition> => {
  const followUp = engagementFollowUp(captured.data);
  if (followUp === undefined) return captured.position;
  failpoint('engagement:before-follow-up');
  const position = await appendFollowUpOnce(store, captured, followUp, now, 'EngageContact');
  return store.comparePositions(position, captured.position) > 0 ? position : captured.position;
};

/** Derived from the fact, so a completion retried appends nothing twice; sorted with the fact. */
const followUpEventId = (converted: Pick<RecordedLeadConverted, 'id'>, followUp: FollowUp, index: number): string =>
  withTimeOf(converted.id, deterministicId(converted.id, followUp.streamId, index));

/**
 * The follow-up's events, their ids derived from the fact (the bulk seed stamps them here too). Their times come after those of the
 * stream's last event (`followUpTimes`): a conversion back-dated onto an existing contact must
 * not slip its events in before that contact's later facts.
 */
export const followUpEvents = (
  converted: Pick<RecordedLeadConverted, 'id' | 'metadata'>,
  followUp: FollowUp,
  last: { metadata: Pick<EventMetadata, 'recordedAt' | 'occurredAt'> } | undefined,
  now: Date,
  /** The command whose fact calls for the follow-up. */
  commandType = 'ConvertLead',
): NewEvent[] => {
  const times = followUpTimes(converted.metadata, last?.metadata, now);
  return followUp.events.map((event, index) => ({
    id: followUpEventId(converted, followUp, index),
    type: event.type,
    data: event.data,
    metadata: {
      actor: converted.metadata.actor,
      recordedAt: times.recordedAt,
      occurredAt: times.occurredAt,
      correlationId: converted.metadata.correlationId,
      causationId: converted.id,
      schemaVersion: SCHEMA_VERSION,
      commandType,
    },
  }));
};

/** A follow-up that opens its stream finds it empty, or the ids derived from the lead collided. */
export const refuseToReopen = (followUp: FollowUp, eventsOnStream: number): void => {
  if (followUp.opensStream && eventsOnStream > 0) {
    throw new Error(`Conversion cannot open ${followUp.streamId}: the stream already exists`);
  }
};

/**
 * Appends a follow-up of a recorded fact (a conversion's, an engagement's) unless its events are
 * on the stream already; returns the position of its last event either way.
 */
export const appendFollowUpOnce = async (
  store: EventStore,
  converted: Pick<RecordedEvent, 'id' | 'metadata'>,
  followUp: FollowUp,
  now: Date,
  commandType = 'ConvertLead',
): Promise<GlobalPosition> => {
  const ids = followUp.events.map((_, index) => followUpEventId(converted, followUp, index));
  for (let attempt = 1; ; attempt++) {
    const existing = await readStreamOrEmpty(store, followUp.streamId);
    const done = existing.filter((event) => ids.includes(event.id));
    if (done.length > 0) return done.at(-1)!.position;
    refuseToReopen(followUp, existing.length);
    // Stamped after the stream as read here: a conflict re-reads it and stamps again.
    const events = followUpEvents(converted, followUp, existing.at(-1), now, commandType);
    try {
      const result = await store.appendToStream(followUp.streamId, events, {
        expectedRevision: existing.length === 0 ? NO_STREAM : existing.length - 1,
      });
      return result.position;
    } catch (error) {
      if (!(error instanceof ConcurrencyConflictError) || attempt >= MAX_ATTEMPTS) throw error;
    }
  }
};

const CHECKPOINT_NAME = 'conversion-completer';

/**
 * Follows the log and completes every conversion it sees, and every engagement of a contact (a
 * lead opened for it, whose `ContactEngaged` follows), so that one interrupted by a crash
 * between its steps is finished at the next start. Its checkpoint moves only past completed
 * conversions, and redoing one is harmless.
 */
export class ConversionCompleter {
  private subscription?: Subscription;
  /** A start again after the store was found unavailable, while it waits. */
  private restart?: NodeJS.Timeout;
  private pauseMs = FIRST_PAUSE_AFTER_UNAVAILABLE_MS;
  private stopped = false;
  lastError: unknown;

  constructor(
    private readonly store: EventStore,
    private readonly db: SqlDatabase,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  start(): Promise<void> {
    this.stopped = false;
    return this.follow();
  }

  private async follow(): Promise<void> {
    await this.createCheckpointTable();
    const row = await this.db.get<{ position: string }>('SELECT position FROM process_checkpoints WHERE name = ?', [
      CHECKPOINT_NAME,
    ]);
    if (this.stopped) return;
    const subscription = this.store.subscribeToAll({
      fromPosition: row?.position,
      onEvent: async (event) => {
        if (event.type === 'LeadConverted') await completeConversion(this.store, event as RecordedLeadConverted, this.clock());
        else if (event.type === 'LeadCaptured' && (event.data as LeadCaptured['data']).contactId !== undefined) {
          await completeEngagement(this.store, event as RecordedLeadCaptured, this.clock());
        } else return;
        await this.saveCheckpoint(event.position);
      },
      onError: (error) => {
        if (this.subscription !== subscription) {
          this.lastError = error;
          return;
        }
        this.subscription = undefined;
        this.failed(error);
      },
      onCaughtUp: () => {
        this.pauseMs = FIRST_PAUSE_AFTER_UNAVAILABLE_MS;
      },
    });
    this.subscription = subscription;
  }

  /**
   * Following the log failed. The store unavailable for a moment (PostgreSQL restarting, or
   * ending the connection a read or an append waited on): the completer starts again from its
   * checkpoint after a pause (100 ms, doubling up to 5 s while it keeps failing), rather than
   * stopping until the process restarts; a conversion it was completing is completed again,
   * which is harmless. Any other error stops it.
   */
  private failed(error: unknown): void {
    this.lastError = error;
    if (!isStoreUnavailable(error)) {
      console.error('Conversion completer stopped', error);
      return;
    }
    const pauseMs = this.pauseMs;
    this.pauseMs = nextPauseAfterUnavailable(pauseMs);
    console.error(`Conversion completer: the store is unavailable (${error instanceof Error ? error.message : String(error)}); starting again in ${pauseMs} ms`);
    this.restart = setTimeout(() => {
      this.restart = undefined;
      this.follow().catch((failure: unknown) => this.failed(failure));
    }, pauseMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restart);
    this.restart = undefined;
    const subscription = this.subscription;
    this.subscription = undefined;
    await subscription?.stop();
  }

  /**
   * Moves the checkpoint to `position` without looking at what lies before it; only while
   * stopped. The bulk seed writes every conversion with its follow-ups in the same atomic batch,
   * so there is nothing before it to complete, and checking each again would read four streams
   * per conversion.
   */
  async skipTo(position: GlobalPosition | undefined): Promise<void> {
    if (this.subscription) throw new Error('The conversion completer skips ahead only while stopped');
    if (position === undefined) return;
    await this.createCheckpointTable();
    await this.saveCheckpoint(position);
  }

  private createCheckpointTable(): Promise<void> {
    return this.db.exec('CREATE TABLE IF NOT EXISTS process_checkpoints (name TEXT PRIMARY KEY, position TEXT NOT NULL)');
  }

  private async saveCheckpoint(position: GlobalPosition): Promise<void> {
    await this.db.run(
      `INSERT INTO process_checkpoints (name, position) VALUES (?, ?)
       ON CONFLICT (name) DO UPDATE SET position = excluded.position`,
      [CHECKPOINT_NAME, position],
    );
  }
}
