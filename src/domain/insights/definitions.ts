/**
 * What the KPIs mean, as pure functions: which period a fact falls in, its month, how ratios,
 * durations and amounts are computed. The read models (projections/kpis) and the replay
 * (`replay.ts`) compute the KPIs by different paths; both answer to these definitions, so
 * their figures can be compared to the last digit.
 */
import { utcInstant } from '../../core/eventTimes';
import type { Money } from '../values';
import { fromUnits } from '../opportunities/money';
import type { ContactOutcome } from '../leads/lead';

export const KPI_DIMENSIONS = ['SOURCE', 'CAMPAIGN', 'OWNER', 'MONTH', 'LIST', 'ORIGIN'] as const;
export type KpiDimension = (typeof KPI_DIMENSIONS)[number];

/**
 * Where a lead cycle comes from: a new lead, or an existing contact brought back into the funnel
 * (its `LeadCaptured` names the contact, `contactId`). A recycled cycle keeps its capture's origin:
 * the recycle re-engages the same lead, not a contact.
 */
export const LEAD_ORIGINS = ['NEW', 'RE_ENGAGED'] as const;
export type LeadOrigin = (typeof LEAD_ORIGINS)[number];

export const originOfCapture = (captured: { contactId?: string }): LeadOrigin =>
  captured.contactId === undefined ? 'NEW' : 'RE_ENGAGED';

/** Half-open, [from, to), on business time (occurredAt), as UTC ISO-8601 instants. */
export interface KpiPeriod {
  from: string;
  to: string;
}

/** Which group a fact falls in: a dimension not grouped by is null, as is a fact without it. */
export interface KpiGroupKey {
  source: string | null;
  campaign: string | null;
  ownerId: string | null;
  /** YYYY-MM, in UTC. */
  month: string | null;
  /** A lead list the lead is in now; null for a lead in no list (and a fact without a lead). */
  listId: string | null;
  origin: LeadOrigin | null;
}

/** The attributes of one fact that groups can be cut by. */
export interface KpiAttribution {
  source: string | null;
  campaign: string | null;
  ownerId: string | null;
  origin: LeadOrigin | null;
  /** Only on the copy of a fact made for one of its lead's lists (a cut by LIST). */
  listId?: string | null;
}

/** A time as a UTC ISO-8601 instant (see `utcInstant`): how every KPI period and fact time is compared. */
export const instant = utcInstant;

export const monthOf = (time: string): string => instant(time).slice(0, 7);

/** An instant of a four-digit year, whose first seven characters are its month (YYYY-MM). */
export const PLAIN_YEAR_INSTANT = /^\d{4}-\d{2}-/;
export const startOfMonth = (month: string): string => `${month}-01T00:00:00.000Z`;
/** The month after a YYYY-MM month, by arithmetic on its digits (a report cut by month asks it for every month). */
export const monthAfter = (month: string): string => {
  const [year, number] = month.split('-').map(Number);
  if (number === 12) return year! >= 9999 ? `+0${year! + 1}-01` : `${String(year! + 1).padStart(4, '0')}-01`;
  return `${month.slice(0, 5)}${String(number! + 1).padStart(2, '0')}`;
};

/**
 * A period cut at the start of each UTC month: every month it touches, with its part of the
 * period, in order. A fact of the period falls in the part of its own month, and in no other:
 * a report grouped by month is the reports of its parts, one after the other. Empty for a period
 * that is not [from, to) between instants of four-digit years.
 */
export const monthsOfPeriod = (period: KpiPeriod): Array<KpiPeriod & { month: string }> => {
  const [from, to] = [instant(period.from), instant(period.to)];
  if (!PLAIN_YEAR_INSTANT.test(from) || !PLAIN_YEAR_INSTANT.test(to) || from >= to) return [];
  const parts: Array<KpiPeriod & { month: string }> = [];
  for (let start = from; start < to; ) {
    const month = start.slice(0, 7);
    const next = startOfMonth(monthAfter(month));
    // After 9999-12 comes a six-digit year, which would sort before every four-digit one.
    const end = PLAIN_YEAR_INSTANT.test(next) && next < to ? next : to;
    parts.push({ month, from: start, to: end });
    start = end;
  }
  return parts;
};

export const inPeriod = (time: string, period: KpiPeriod): boolean => {
  const at = instant(time);
  return at >= period.from && at < period.to;
};

export const groupKeyOf = (
  groupBy: readonly KpiDimension[],
  attribution: KpiAttribution,
  month: string | null,
): KpiGroupKey => ({
  source: groupBy.includes('SOURCE') ? attribution.source : null,
  campaign: groupBy.includes('CAMPAIGN') ? attribution.campaign : null,
  ownerId: groupBy.includes('OWNER') ? attribution.ownerId : null,
  month: groupBy.includes('MONTH') ? month : null,
  listId: groupBy.includes('LIST') ? (attribution.listId ?? null) : null,
  origin: groupBy.includes('ORIGIN') ? attribution.origin : null,
});

export const groupKeyId = (key: KpiGroupKey): string =>
  JSON.stringify([key.source, key.campaign, key.ownerId, key.month, key.listId, key.origin]);

const compareNullable = (a: string | null, b: string | null): number =>
  a === b ? 0 : a === null ? -1 : b === null ? 1 : a < b ? -1 : 1;

/** Groups are listed in key order (an absent value first): stable, whichever path computed them. */
export const compareGroupKeys = (a: KpiGroupKey, b: KpiGroupKey): number =>
  compareNullable(a.source, b.source) ||
  compareNullable(a.campaign, b.campaign) ||
  compareNullable(a.ownerId, b.ownerId) ||
  compareNullable(a.month, b.month) ||
  compareNullable(a.listId, b.listId) ||
  compareNullable(a.origin, b.origin);

/**
 * "Contacted", in the lead funnel: the lead was reached in that cycle, that is a contact was
 * logged with outcome REACHED at any time after the cycle's capture (the first one moves a new
 * lead to CONTACTED). Other outcomes (NO_ANSWER, LEFT_MESSAGE...) are attempts, not contacts.
 */
export const reachesLead = (outcome: ContactOutcome): boolean => outcome === 'REACHED';

/** Null when there is nothing to divide by, rather than a misleading 0. */
export const ratio = (part: number, whole: number): number | null => (whole === 0 ? null : part / whole);

export const unitsRatio = (part: bigint, whole: bigint): number | null =>
  whole === 0n ? null : Number(part) / Number(whole);

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * How long something lasted, in milliseconds of business time. A back-dated end could fall
 * before its start; it then lasted nothing, rather than a negative time.
 */
export const durationMs = (start: string, end: string): number => Math.max(0, Date.parse(end) - Date.parse(start));

export const averageDays = (totalMs: number, count: number): number | null =>
  count === 0 ? null : totalMs / count / DAY_MS;

/**
 * Money is stored in read models as a whole part and a fraction in 10^-8, two integers that SQL
 * sums exactly on any database (`amountParts` and `unitsOfSums` in ../opportunities/money say how).
 */
export { amountParts as splitAmount, unitsOfParts } from '../opportunities/money';

export const moneyOf = (units: bigint, currency: string): Money => ({ amount: fromUnits(units), currency });

/** An average amount, truncated to the 10 decimals amounts are summed in. */
export const averageMoney = (units: bigint, count: number, currency: string): Money | null =>
  count === 0 ? null : moneyOf(units / BigInt(count), currency);
