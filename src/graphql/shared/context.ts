import type { Application } from '../../composition/application';
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
}
