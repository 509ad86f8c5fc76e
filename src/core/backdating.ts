/**
 * Back-dating: a client may say when a business fact happened (a deal closed on Friday, recorded
 * on Monday), within a configurable window. Older corrections are not back-dating but history
 * rewriting, which an event log refuses. The per-stream rule (never before the entity's last
 * fact) lives in `src/core/eventTimes.ts`, where the stream is known.
 */
import { ValidationError } from './errors';

export const DEFAULT_BACKDATE_LIMIT_DAYS = 30;
const DAY_MS = 86_400_000;

/** CRM_BACKDATE_LIMIT_DAYS: a whole number of days, 0 (no back-dating) or more. */
export const parseBackdateLimitDays = (text: string | undefined): number => {
  if (text === undefined || text.trim() === '') return DEFAULT_BACKDATE_LIMIT_DAYS;
  if (!/^\d{1,5}$/.test(text.trim())) {
    throw new Error(`must be a whole number of days (0 or more), got ${JSON.stringify(text)}`);
  }
  return Number(text.trim());
};

/**
 * The business time a mutation asked for, checked against the request's clock: never in the
 * future, never more than `limitDays` back. Undefined when the client did not back-date.
 */
export const requestedOccurredAt = (
  value: Date | string | null | undefined,
  now: Date,
  limitDays: number,
): Date | undefined => {
  if (value === undefined || value === null) return undefined;
  const occurredAt = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(occurredAt.getTime())) {
    throw new ValidationError([{ field: 'occurredAt', message: 'must be an ISO-8601 date and time' }]);
  }
  if (occurredAt.getTime() > now.getTime()) {
    throw new ValidationError([{ field: 'occurredAt', message: 'must not be in the future' }]);
  }
  const earliest = new Date(now.getTime() - limitDays * DAY_MS);
  if (occurredAt.getTime() < earliest.getTime()) {
    throw new ValidationError([
      {
        field: 'occurredAt',
        message: `must not be more than ${limitDays} days ago (CRM_BACKDATE_LIMIT_DAYS), i.e. not before ${earliest.toISOString()}`,
      },
    ]);
  }
  return occurredAt;
};

export const OCCURRED_AT_DESCRIPTION =
  'When this happened in the business, if not now: not in the future, at most CRM_BACKDATE_LIMIT_DAYS ' +
  "(30 by default) ago, and not before the entity's last recorded fact";
