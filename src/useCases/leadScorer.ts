/**
 * Keeps every open lead's score fresh: a process that follows the log, as the conversion
 * completer does, and scores a lead again after each fact that changes what the rules read
 * (`changesScoredFacts`), without anyone calling `scoreLead`. It runs where the projections run
 * (one instance, the lease holder), from its own checkpoint in `process_checkpoints`.
 *
 * Exactly once per change: each score's id derives from the event that caused it, and a score
 * already recorded for that event is found on the lead's score stream, so a crash, a restart or
 * a redo from an older checkpoint writes nothing twice. Each score is computed from the lead as it
 * stands when it is computed, never from an older state, so a redo cannot bring back a stale
 * score; several facts about one lead read together give one score, from the last of them.
 */
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { ConcurrencyConflictError, type EventStore, type GlobalPosition, type RecordedEvent, type Subscription } from '../core/eventStore';
import { BoundedMap } from '../core/boundedMap';
import { newId } from '../core/ids';
import { leadStreamId } from '../domain/leads/lead';
import { changesScoredFacts, leadScoreStreamId } from '../domain/scoring/rescore';
import type { ScoringRules } from '../domain/scoring/rules';
import type { SqlDatabase } from '../../projections/sqlDatabase';
import { planRescore, rescoreLead, type KnownStreams, type RescoreRequest } from './rescoreLead';
import { publishRulesOnFirstUse } from './scoringRulesStore';

/** Who automatic scores are recorded as. */
export const LEAD_SCORER_ACTOR = 'lead-scorer';

const CHECKPOINT_NAME = 'lead-scorer';
/** Events delivered before the subscription waits for their scores: its memory stays bounded. */
const BATCH_EVENTS = 500;
/** Leads scored at once when each reads its streams: their appends share a transaction (SQLite commits one turn's appends together). */
const CONCURRENT_LEADS = 16;
/** A checkpoint is stored at least every so many events... */
const SAVE_EVERY_EVENTS = 5_000;
/**
 * ...and, while it scores, at most this often: under a load of captures every batch scored
 * something, and its checkpoint was a statement of its own each time (on PostgreSQL, about one
 * statement in twenty of the whole load). A restart or an error redoes at most that much, and
 * finds each of those scores recorded already.
 */
const SAVE_AT_MOST_EVERY_MS = 1_000;
const MAX_RETRY_DELAY_MS = 30_000;
/** Leads whose streams it keeps from what the log delivered (the most recently captured): memory stays bounded. */
const KNOWN_LEADS = 4_096;

export interface LeadScorerOptions {
  store: EventStore;
  /** Where the checkpoint lives (the projections' connection to the read database). */
  db: SqlDatabase;
  /** The rules in use (CRM_SCORING_FILE). */
  rules: ScoringRules;
  clock?: () => Date;
  logger?: Pick<Console, 'error'>;
}

export class LeadScorer {
  private subscription: Subscription | undefined;
  /** Each lead with a scored fact delivered and not yet scored: its latest such fact. */
  private pending = new Map<string, RecordedEvent>();
  /**
   * The lead and score streams of leads it saw captured, whole, from what the log delivered: a
   * lead is scored without reading its streams back (and opening its sealed personal data again)
   * right after its capture, the busiest moment. Dropped when a gap shows, and all of it on any
   * erasure, so no plaintext of an erased person stays in memory.
   */
  private known = new BoundedMap<string, { leadEvents: RecordedEvent[]; scores: RecordedEvent[] }>(KNOWN_LEADS);
  private delivered: GlobalPosition | undefined;
  private processed: GlobalPosition | undefined;
  private saved: GlobalPosition | undefined;
  private eventsSinceFlush = 0;
  private eventsSinceSave = 0;
  /** When the checkpoint was last stored (`performance.now()`), or -Infinity. */
  private savedAt = Number.NEGATIVE_INFINITY;
  private flushScheduled = false;
  private work: Promise<void> = Promise.resolve();
  private waiters: Array<{ position: GlobalPosition; resolve: () => void }> = [];
  private failures = 0;
  private stopped = true;
  /** The last error that made it start over from its checkpoint (it retries by itself). */
  lastError: unknown;

  constructor(private readonly options: LeadScorerOptions) {}

  async start(): Promise<void> {
    const { db } = this.options;
    await db.exec('CREATE TABLE IF NOT EXISTS process_checkpoints (name TEXT PRIMARY KEY, position TEXT NOT NULL)');
    const row = await db.get<{ position: string }>('SELECT position FROM process_checkpoints WHERE name = ?', [CHECKPOINT_NAME]);
    // What it has processed is what it will not do again: from the checkpoint on, all is to do.
    this.saved = this.processed = row?.position;
    this.stopped = false;
    this.follow(this.saved);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const subscription = this.subscription;
    this.subscription = undefined;
    await subscription?.stop();
    await this.work;
    this.pending.clear();
    this.known.clear();
    if (this.processed !== undefined && this.processed !== this.saved) await this.save(this.processed);
  }

  /** Started and not stopped (the data generator, or a test, may pause it). */
  get running(): boolean {
    return !this.stopped;
  }

  /**
   * Resolves once every event up to `position` has been handled (its score recorded, or found
   * unchanged); at once for an empty log. For whoever must know the scores are in: tests, tools.
   */
  whenProcessed(position: GlobalPosition | undefined): Promise<void> {
    if (position === undefined || this.hasProcessed(position)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ position, resolve }));
  }

  /**
   * Moves the checkpoint to `position` without scoring what lies before it; only while stopped.
   * The data generator writes a simulated past, which it does not want scored with today's clock.
   */
  async skipTo(position: GlobalPosition | undefined): Promise<void> {
    if (!this.stopped) throw new Error('The lead scorer skips ahead only while stopped');
    if (position === undefined) return;
    await this.save(position);
    this.processed = position;
    this.settleWaiters();
  }

  private follow(fromPosition: GlobalPosition | undefined): void {
    this.delivered = fromPosition;
    const subscription: Subscription = this.options.store.subscribeToAll({
      fromPosition,
      onEvent: (event) => {
        if (subscription !== this.subscription) return undefined;
        this.delivered = event.position;
        this.eventsSinceFlush++;
        const leadId = (event.data as { leadId?: unknown }).leadId;
        this.remember(event, leadId);
        if (typeof leadId === 'string' && event.streamId === leadStreamId(leadId) && changesScoredFacts(event)) {
          this.pending.delete(leadId);
          this.pending.set(leadId, event);
        }
        if (!this.flushScheduled) {
          this.flushScheduled = true;
          this.work = this.work.then(nextMacrotask).then(() => this.flush(subscription));
        }
        return this.eventsSinceFlush >= BATCH_EVENTS ? this.work : undefined;
      },
      // At the end of the log: even with nothing delivered, everything up to here is processed.
      onCaughtUp: () => {
        if (subscription !== this.subscription || this.flushScheduled) return;
        this.flushScheduled = true;
        this.work = this.work.then(() => this.flush(subscription));
      },
      onError: (error) => this.startOver(subscription, error),
    });
    this.subscription = subscription;
  }

  private async flush(subscription: Subscription): Promise<void> {
    this.flushScheduled = false;
    if (subscription !== this.subscription) return;
    const triggers = [...this.pending.values()];
    this.pending.clear();
    const upTo = this.delivered;
    this.eventsSinceSave += this.eventsSinceFlush;
    this.eventsSinceFlush = 0;
    try {
      const toRead = await this.scoreKnownTogether(triggers);
      for (let index = 0; index < toRead.length; index += CONCURRENT_LEADS) {
        await Promise.all(toRead.slice(index, index + CONCURRENT_LEADS).map((request) => rescoreLead(this.options.store, request)));
        if (subscription !== this.subscription) return;
      }
      if (upTo === undefined) return;
      const scoredSinceLong = triggers.length > 0 && performance.now() - this.savedAt >= SAVE_AT_MOST_EVERY_MS;
      if (scoredSinceLong || this.eventsSinceSave >= SAVE_EVERY_EVENTS) await this.save(upTo);
      this.processed = upTo;
      this.failures = 0;
      this.settleWaiters();
    } catch (error) {
      this.startOver(subscription, error);
    }
  }

  /** Keeps `known` whole: a stream's next event extends it, anything else drops the lead. */
  private remember(event: RecordedEvent, leadId: unknown): void {
    if (event.type === 'PersonalDataErased') {
      this.known.clear();
      return;
    }
    if (typeof leadId !== 'string') return;
    if (event.streamId === leadStreamId(leadId)) {
      if (event.revision === 0) {
        // Its score stream cannot be older than its capture: from here on, both are seen whole.
        this.known.set(leadId, { leadEvents: [event], scores: [] });
        return;
      }
      const streams = this.known.get(leadId);
      if (streams?.leadEvents.at(-1)?.revision === event.revision - 1) streams.leadEvents.push(event);
      else this.known.delete(leadId);
    } else if (event.streamId === leadScoreStreamId(leadId)) {
      const streams = this.known.get(leadId);
      if (streams?.scores.length === event.revision) streams.scores.push(event);
      else this.known.delete(leadId);
    }
  }

  /**
   * Scores the leads whose streams it holds, all their scores in one append (one transaction: a
   * write per delivered batch, not per lead). Answers the requests left to score one by one,
   * reading the store: the leads it does not hold, and all of them when the store cannot append
   * to several streams at once or when one of the streams moved meanwhile (a job scored the lead).
   */
  private async scoreKnownTogether(triggers: readonly RecordedEvent[]): Promise<RescoreRequest[]> {
    const { store } = this.options;
    const requests = triggers.map((trigger) => this.requestAfter(trigger));
    const known = requests.filter((request) => request.known !== undefined);
    if (!store.appendsToStreamsAtomically || known.length < 2) return requests;
    const plans = await Promise.all(known.map((request) => planRescore(store, request, request.known!)));
    const records = plans.flatMap((plan) => ('record' in plan ? [plan.record] : []));
    const others = requests.filter((request) => request.known === undefined);
    if (records.length === 0) return others;
    await this.publishRules(triggers[0]!);
    try {
      await store.appendToStreams(records);
      return others;
    } catch (error) {
      if (!(error instanceof ConcurrencyConflictError)) throw error;
      return requests.map((request) => ({ ...request, known: undefined }));
    }
  }

  private requestAfter(trigger: RecordedEvent): RescoreRequest {
    const leadId = (trigger.data as { leadId: string }).leadId;
    const known: KnownStreams | undefined = this.known.get(leadId);
    return {
      leadId,
      // Copies: more of the log may be delivered while this score is computed.
      known: known && { leadEvents: [...known.leadEvents], scores: [...known.scores] },
      reason: 'FACT',
      rules: this.options.rules,
      causationId: trigger.id,
      actor: LEAD_SCORER_ACTOR,
      correlationId: trigger.metadata.correlationId,
      now: this.now(),
      beforeRecording: () => this.publishRules(trigger),
    };
  }

  /** The rules' definition is on the log before their first score (reproduceScore reads it there). */
  private publishRules(trigger: RecordedEvent): Promise<void> {
    return publishRulesOnFirstUse(this.options.store, this.options.rules, {
      actor: LEAD_SCORER_ACTOR,
      now: this.now(),
      commandId: newId(),
      correlationId: trigger.metadata.correlationId,
    });
  }

  /** After an error (the store or the database unreachable): from the checkpoint again, a little later each time. */
  private startOver(subscription: Subscription, error: unknown): void {
    if (subscription !== this.subscription) return;
    this.subscription = undefined;
    this.lastError = error;
    this.failures++;
    const delay = Math.min(MAX_RETRY_DELAY_MS, 500 * 2 ** (this.failures - 1));
    (this.options.logger ?? console).error(`Lead scorer: ${String(error)}; starting over from its checkpoint in ${delay} ms`);
    void (async () => {
      await subscription.stop().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, delay).unref());
      if (this.stopped || this.subscription !== undefined) return;
      this.pending.clear();
      this.known.clear();
      this.eventsSinceFlush = 0;
      this.follow(this.saved);
    })();
  }

  private async save(position: GlobalPosition): Promise<void> {
    await this.options.db.run(
      `INSERT INTO process_checkpoints (name, position) VALUES (?, ?)
       ON CONFLICT (name) DO UPDATE SET position = excluded.position`,
      [CHECKPOINT_NAME, position],
    );
    this.saved = position;
    this.savedAt = performance.now();
    this.eventsSinceSave = 0;
  }

  private hasProcessed(position: GlobalPosition): boolean {
    return this.processed !== undefined && this.options.store.comparePositions(position, this.processed) <= 0;
  }

  private settleWaiters(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const waiter of waiting) {
      if (this.hasProcessed(waiter.position)) waiter.resolve();
      else this.waiters.push(waiter);
    }
  }

  private now(): Date {
    return (this.options.clock ?? (() => new Date()))();
  }
}
