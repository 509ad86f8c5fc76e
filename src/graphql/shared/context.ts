import type { AskedReport } from '../../../projections/reportCache';
import type { Application } from '../../composition/application';
import type { RecordedEvent } from '../../core/eventStore';
import type { Identity } from '../../identity/jwt';

/** Everything a resolver may use for one request. */
export interface GraphQLContext {
  app: Application;
  /** Undefined for an anonymous request; an invalid token never gets this far. */
  identity?: Identity;
  /** Ties together every event one request causes; a client may send its own (x-correlation-id). */
  correlationId: string;
  /** Read once per request, so all events of one request carry the same time. */
  requestTime: Date;
  /** Set on a subscription's connection only. */
  live?: LiveConnection;
  /**
   * Set while an operation whose answer may be sent again runs: the reports its resolvers were
   * answered (`askReport`), which that answer is valid as long as (src/graphql/reportAnswers.ts).
   */
  reportsAsked?: AskedReport[];
}

/** What a subscription uses of the change feed (`subscriptions/changeFeed.ts`). */
export interface ChangeFeedView {
  /** Calls `listener` with each event once the read models include it; the returned function stops it. */
  listen(listener: (event: RecordedEvent) => void): () => void;
  /** Resolves once the feed follows the log (after a first `listen`). */
  ready(): Promise<void>;
  /** The view `key` of an event, loaded once for every subscriber that asks. */
  shared<T>(key: string, load: () => Promise<T>): Promise<T>;
}

/** A subscription's connection (WebSocket): the feed it follows, and how to drop it. */
export interface LiveConnection {
  feed: ChangeFeedView;
  /** Notifications one subscriber may have waiting, and for how long, before it is dropped as too slow. */
  maxQueued: number;
  maxLagMs: number;
  /** Closes the connection with a close code and reason the client sees. */
  close(code: number, reason: string): void;
}
