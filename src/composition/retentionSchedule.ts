/**
 * CRM_RETENTION=24m: the server applies the retention policy itself, a minute after it starts
 * and then every day, as `npm run retention -- --disqualified-older-than 24m` would. Each run is
 * logged with its counts (never names: only lead ids). Instances sharing a database may each run
 * it: an erasure already recorded is not recorded twice.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../observability/logger';
import { runRetention, type RetentionAge } from '../useCases/personalData/retention';
import type { Application } from './application';

const DAY_MS = 24 * 60 * 60 * 1000;

export interface RetentionSchedule {
  /** Resolves once no run is in progress. */
  stop(): Promise<void>;
}

export const scheduleRetention = (
  app: Application,
  olderThan: RetentionAge,
  logger: Logger,
  { firstAfterMs = 60_000, everyMs = DAY_MS }: { firstAfterMs?: number; everyMs?: number } = {},
): RetentionSchedule => {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  const runOnce = async () => {
    const now = new Date();
    try {
      const head = await app.store.headPosition();
      if (head !== undefined) await app.readModels.waitForPosition(head, 300_000);
      const run = await runRetention(
        { store: app.store, sealedStore: app.personalData.sealedStore, readDb: app.readDb },
        { olderThan, now, dryRun: false, context: { actor: 'retention', now, correlationId: randomUUID() } },
      );
      const last = run.erased.map((result) => result.position).filter((position) => position !== undefined).at(-1);
      if (last !== undefined) {
        await app.readModels.waitForPosition(last, 300_000);
        await app.personalData.afterErasure();
      }
      logger.info(
        { component: 'retention', cutoff: run.cutoff, erased: run.erased.length, kept: run.kept.length, leadIds: run.planned.map((p) => p.leadId) },
        `retention: ${run.erased.length} people erased (${olderThan.text})`,
      );
    } catch (error) {
      logger.error({ component: 'retention', err: error }, 'retention run failed; it runs again at the next interval');
    }
  };

  const next = (delay: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = runOnce().finally(() => {
        running = undefined;
        next(everyMs);
      });
    }, delay);
    timer.unref();
  };
  next(firstAfterMs);

  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
};
