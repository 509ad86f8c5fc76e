/**
 * What this instance tells its subscribers: every event appended to the log, by any instance,
 * handed on only once the read models include it, so a client that queries on receipt reads
 * what it was told. One feed per server, following the log from where it stood at start.
 *
 * The views subscribers turn events into (a lead, the pipeline) are read once per event for all
 * of them (`shared`), not once per subscriber.
 */
import type { Application } from '../../composition/application';
import type { GlobalPosition, RecordedEvent, Subscription } from '../../core/eventStore';
import type { ChangeFeedView } from '../shared/context';

type Listener = (event: RecordedEvent) => void;

/** How long one wait for the read models lasts before it is tried again (never given up). */
const READ_MODEL_WAIT_MS = 10_000;
const SHARED_VIEWS = 2_000;

export class ChangeFeed implements ChangeFeedView {
  private readonly listeners = new Set<Listener>();
  private subscription?: Subscription;
  private pending: RecordedEvent[] = [];
  private draining?: Promise<void>;
  private readonly views = new Map<string, Promise<unknown>>();
  private closed = false;
  /** Position of the last event handed on (undefined before the first). */
  lastDelivered?: GlobalPosition;

  private constructor(private readonly app: Application) {}

  static async start(app: Application): Promise<ChangeFeed> {
    const feed = new ChangeFeed(app);
    const head = await app.store.headPosition();
    feed.subscription = app.store.subscribeToAll({
      fromPosition: head,
      onEvent: (event) => feed.receive(event),
      onError: (error) => console.error('The change feed stopped following the log', error),
    });
    return feed;
  }

  /** Calls `listener` with each event from now on; the returned function stops it. */
  listen(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
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
    this.closed = true;
    await this.subscription?.stop();
    this.listeners.clear();
  }

  private receive(event: RecordedEvent): Promise<void> | void {
    this.pending.push(event);
    this.draining ??= this.drain().finally(() => (this.draining = undefined));
    // Backpressure on the log subscription only when the read models fall far behind.
    if (this.pending.length > 10_000) return this.draining;
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0 && !this.closed) {
      const batch = this.pending.splice(0);
      const last = batch.at(-1)!.position;
      for (;;) {
        try {
          await this.app.readModels.waitForPosition(last, READ_MODEL_WAIT_MS);
          break;
        } catch (error) {
          if (this.closed) return;
          console.error(`The change feed waits for the read models to reach ${last}`, error);
        }
      }
      for (const event of batch) {
        this.lastDelivered = event.position;
        for (const listener of this.listeners) listener(event);
      }
    }
  }
}
