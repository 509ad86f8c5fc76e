/**
 * How far each projection is behind the log, in events and in seconds, read when /metrics is
 * scraped: from each distinct checkpoint, the events stored after it (at most
 * `PROJECTION_LAG_CAP`, so a projection set aside long ago costs one bounded read), and the
 * recording time of the first of them.
 */
import type { ReadModels } from '../../projections/leadership/readModels';
import type { EventStore, GlobalPosition } from '../core/eventStore';
import type { ProjectionStatus } from './metrics';

export const PROJECTION_LAG_CAP = 10_000;

export const projectionStatus =
  (store: EventStore, readModels: ReadModels, now: () => number = Date.now) =>
  async (): Promise<ProjectionStatus> => {
    const progress = await readModels.progress();
    const behind = new Map<string, Promise<{ events: number; seconds: number }>>();
    const lagAfter = (position: GlobalPosition | undefined) => {
      const key = position ?? '';
      if (!behind.has(key)) {
        behind.set(
          key,
          store.readAll({ fromPosition: position, maxCount: PROJECTION_LAG_CAP }).then((events) => {
            const oldest = events[0] ? Date.parse(events[0].metadata.recordedAt) : NaN;
            return { events: events.length, seconds: Number.isNaN(oldest) ? 0 : Math.max(0, (now() - oldest) / 1000) };
          }),
        );
      }
      return behind.get(key)!;
    };
    const projections = await Promise.all(
      progress.map(async ({ name, position, failure }) => ({ name, ...(await lagAfter(position)), setAside: failure !== undefined })),
    );
    return { leader: readModels.role === 'leader', projections };
  };
