/**
 * How a mutation learns that the read models include its events, so that it answers only then.
 * The instance running the projections knows it from its own runner; the other instances
 * sharing the read database watch the checkpoints the runner commits with the rows
 * (`leadership/sharedCheckpoints.ts`).
 */
import type { GlobalPosition } from '../src/core/eventStore';

export interface ReadModelPositions {
  /** Resolves once every projection has committed `position`. */
  waitForPosition(position: GlobalPosition, timeoutMs?: number): Promise<void>;
}
