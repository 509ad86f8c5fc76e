/**
 * The catch-up subscription every adapter that can page through its log shares: read from the
 * last delivered position until a short page says the log is exhausted, then sleep until this
 * process appends or, for stores other processes also write to, until the next poll.
 */
import { setImmediate as yieldToOtherWork } from 'node:timers/promises';
import type {
  GlobalPosition,
  ReadAllOptions,
  RecordedEvent,
  SubscribeOptions,
  Subscription,
} from '../core/eventStore';

export interface PageableLog {
  readAll(options: ReadAllOptions): Promise<RecordedEvent[]>;
  /** Calls `listener` after each append this process commits; returns the unsubscribe. */
  onAppended(listener: () => void): () => void;
  batchSize: number;
  /** Omit when no other process can write to the log, so waking on appends is enough. */
  pollIntervalMs?: number;
}

export const subscribeByPaging = (log: PageableLog, options: SubscribeOptions): Subscription => {
  let position: GlobalPosition | undefined = options.fromPosition;
  let stopped = false;
  // Set by an append that lands while a page is being read or delivered, so the loop re-reads
  // instead of sleeping through it: that append may be past what the page saw.
  let appendedSinceLastRead = false;
  let wakeUp: (() => void) | undefined;

  const unsubscribe = log.onAppended(() => {
    appendedSinceLastRead = true;
    wakeUp?.();
  });

  const sleepUntilAppendOrPoll = () =>
    new Promise<void>((resolve) => {
      const timer =
        log.pollIntervalMs === undefined ? undefined : setTimeout(done, log.pollIntervalMs);
      wakeUp = done;
      function done() {
        clearTimeout(timer);
        wakeUp = undefined;
        resolve();
      }
    });

  const run = async () => {
    let reportedCaughtUp = false;
    while (!stopped) {
      appendedSinceLastRead = false;
      const page = await log.readAll({ fromPosition: position, maxCount: log.batchSize });
      for (const event of page) {
        if (stopped) return;
        await options.onEvent(event);
        position = event.position;
      }
      if (stopped) return;
      if (page.length === log.batchSize) {
        // Awaiting a synchronous onEvent only queues microtasks: without this, catching up on a
        // long log would hold off every request the process is serving until it is done.
        await yieldToOtherWork();
        continue;
      }
      // Only on a change: an idle subscription polls forever and would report it every time.
      if (!reportedCaughtUp || page.length > 0) {
        reportedCaughtUp = true;
        options.onCaughtUp?.(position);
      }
      if (!appendedSinceLastRead) await sleepUntilAppendOrPoll();
    }
  };

  const finished = run()
    .catch((error: unknown) => {
      stopped = true;
      if (options.onError) options.onError(error);
      // Without a handler, fail loudly: a projection that silently stops is worse than a crash.
      else void Promise.reject(error);
    })
    .finally(unsubscribe);

  return {
    async stop() {
      stopped = true;
      wakeUp?.();
      await finished;
    },
  };
};

/**
 * The live subscriptions of one process (the read models' runner, the lead scorer, the
 * conversion completer) are woken by the same appends and mostly stand at the same position, so
 * each would read the same page: on PostgreSQL, 1.4 reads per lead captured under load, one
 * statement in nine. With this, a read that an identical read in flight can answer takes that
 * one's answer, provided it began after the last append heard of (`appendHeard`): one begun
 * before might miss that append, and the subscription woken for it would sleep past it. Give
 * each subscription objects of its own made from the shared answer.
 */
export const sharedPageReads = <T>(read: (fromPosition: GlobalPosition | undefined, maxCount: number) => Promise<T>) => {
  let appendsHeard = 0;
  const inFlight = new Map<string, { appendsHeard: number; answer: Promise<T> }>();
  return {
    appendHeard: () => void appendsHeard++,
    read: async (fromPosition: GlobalPosition | undefined, maxCount: number): Promise<T> => {
      const key = `${fromPosition ?? ''}/${maxCount}`;
      const joined = inFlight.get(key);
      if (joined !== undefined && joined.appendsHeard === appendsHeard) return joined.answer;
      const own = { appendsHeard, answer: read(fromPosition, maxCount) };
      inFlight.set(key, own);
      try {
        return await own.answer;
      } finally {
        if (inFlight.get(key) === own) inFlight.delete(key);
      }
    },
  };
};
