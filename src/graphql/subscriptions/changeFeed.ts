/**
 * What this instance tells its subscribers: every event appended to the log, by any instance,
 * handed on only once the read models include it, so a client that queries on receipt reads
 * what it was told. The feed follows the log only while someone listens: from the log's head
 * when the first subscriber arrives, until the last one leaves (a server without subscribers
 * pays nothing for it).
 *
 * The views subscribers turn events into (a lead, the pipeline) are read once per event for all
 * of them (`shared`), not once per subscriber.
 */
import type { Application } from '../../composition/application';
import type { RecordedEvent, Subscription } from '../../core/eventStore';
import { ReadModelStoppedError } from '../../../projections/leadership/readModelStoppedError';
import type { ChangeFeedView } from '../shared/context';

type Listener = (event: RecordedEvent) => void;

/** How long one wait for the read models lasts before it is tried again (never given up). */
const READ_MODEL_WAIT_MS = 10_000;
const SHARED_VIEWS = 2_000;
/** After a failed wait (the read database unreachable), before asking again. */
const RETRY_DELAY_MS = 1_000;

/** One stretch of following the log, from a first subscriber to the last one leaving. */
interface Run {
  subscription?: Subscription;
  started: Promise<void>;
  pending: RecordedEvent[];
  draining?: Promise<void>;
  stopped: boolean;
}

export class ChangeFeed implements ChangeFeedView {
  private readonly listeners = new Set<Listener>();
  private readonly views = new Map<string, Promise<unknown>>();
  private run?: Run;
  /** The last stopped read model reported (said once, not for every event). */
  private reportedStopped: string | undefined;

  constructor(private readonly app: Pick<Application, 'store' | 'readModels'>) {}

  /** Calls `listener` with each event from now on; the returned function stops it. */
  listen(listener: Listener): () => void {
    this.listeners.add(listener);
    this.run ??= this.follow();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) void this.stop();
    };
  }

  /** Resolves once the feed follows the log, so that nothing appended after it is missed. */
  async ready(): Promise<void> {
    await this.run?.started;
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  /** The view `key` of this event, loaded once for every subscriber that asks. */
  shared<T>(key: string, load: () => Promise<T>): Promise<T> {
    let view = this.views.get(key) as Promise<T> | undefined;
    if (!view) {
      if (this.views.size >= SHARED_VIEWS) this.views.delete(this.views.keys().next().value!);
      view = load();
      this.views.set(key, view);
    }
    return view;
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await this.stop();
  }

  private follow(): Run {
    const run: Run = { pending: [], stopped: false, started: Promise.resolve() };
    run.started = (async () => {
      const head = await this.app.store.headPosition();
      if (run.stopped) return;
      run.subscription = this.app.store.subscribeToAll({
        fromPosition: head,
        onEvent: (event) => this.receive(run, event),
        onError: (error) => console.error('The change feed stopped following the log', error),
      });
    })();
    return run;
  }

  private async stop(): Promise<void> {
    const run = this.run;
    if (!run) return;
    this.run = undefined;
    run.stopped = true;
    await run.started.catch(() => undefined);
    await run.subscription?.stop();
  }

  private receive(run: Run, event: RecordedEvent): Promise<void> | void {
    run.pending.push(event);
    run.draining ??= this.startDraining(run);
    // Backpressure on the log subscription only when the read models fall far behind.
    if (run.pending.length > 10_000) return run.draining;
  }

  /**
   * Drains, then drains again if events arrived after the drain found nothing left and before it
   * was marked done: such an event saw a drain under way and started none, and would have waited
   * for the next event to be handed on.
   */
  private startDraining(run: Run): Promise<void> {
    return this.drain(run).finally(() => {
      run.draining = undefined;
      if (run.pending.length > 0 && !run.stopped) run.draining = this.startDraining(run);
    });
  }

  /**
   * Hands each event on as soon as the read models include it, not once they include the last
   * event received: under a steady write load the log's head always runs ahead of the read models,
   * and waiting for it delayed every notification by that lag.
   */
  private async drain(run: Run): Promise<void> {
    while (run.pending.length > 0 && !run.stopped) {
      const batch = run.pending.splice(0);
      for (const event of batch) {
        for (;;) {
          try {
            await this.app.readModels.waitForPosition(event.position, READ_MODEL_WAIT_MS);
            break;
          } catch (error) {
            if (run.stopped) return;
            // A read model set aside on a failing event will not take this one in until an
            // operator mends it: waiting would hold every later notification back for good (and
            // asked again at once, it spun). The others have it: hand it on, as a mutation
            // answers READ_MODEL_STOPPED for a write that is recorded.
            if (error instanceof ReadModelStoppedError) {
              const stopped = error.failures.map((failure) => `${failure.name} at ${failure.eventId}`).join(', ');
              if (this.reportedStopped !== stopped) {
                this.reportedStopped = stopped;
                console.error(`The change feed hands events on while a read model is stopped: ${stopped}`);
              }
              break;
            }
            console.error(`The change feed waits for the read models to reach ${event.position}`, error);
            await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
          }
        }
        if (run.stopped) return;
        for (const listener of this.listeners) listener(event);
      }
    }
  }
}
