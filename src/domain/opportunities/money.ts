/**
 * Exact arithmetic on decimal amounts. Amounts are summed and weighted as integers of
 * 10^-10 units (BigInt): the Decimal scalar allows 8 decimals and a whole-percent probability
 * adds 2, so no sum or weighting is ever rounded, as float addition would.
 */
import type { Money } from '../values';

const SCALE = 10;
const ONE = 10n ** BigInt(SCALE);
const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

/** What an opportunity's amounts may be: non-negative, as many digits as the Decimal scalar. */
export const AMOUNT = /^\d{1,18}(\.\d{1,8})?$/;

export const toUnits = (amount: string): bigint => {
  const match = DECIMAL.exec(amount);
  if (!match || (match[3] ?? '').length > SCALE) throw new Error(`Not a decimal amount: ${amount}`);
  const [, sign, whole, fraction = ''] = match;
  const units = BigInt(whole!) * ONE + BigInt(fraction.padEnd(SCALE, '0'));
  return sign === '-' ? -units : units;
};

/** Shown with at least two decimals, and no trailing zeros beyond them. */
export const fromUnits = (units: bigint): string => {
  const sign = units < 0n ? '-' : '';
  const magnitude = units < 0n ? -units : units;
  const fraction = (magnitude % ONE).toString().padStart(SCALE, '0').replace(/0+$/, '').padEnd(2, '0');
  return `${sign}${magnitude / ONE}.${fraction}`;
};

/**
 * How read models keep amounts for SQL to sum exactly, on SQLite as on PostgreSQL: two integers,
 * the whole part (up to 18 digits) and the fraction in 10^-8 (the Decimal scalar's precision).
 *
 * The whole parts cannot be summed as they are: ten amounts near 10^18 add up past 2^63, where
 * SQLite's integer SUM fails the whole query ("integer overflow") rather than round. So queries
 * sum, per row, the whole part's quotient and remainder by 10^9 (`WHOLE_SPLIT`), and the
 * fraction: each term is below 10^9, so each sum stays exact in 64 bits up to 9 × 10^9 rows,
 * and `unitsOfSums` puts the three sums back together in BigInt.
 */
const FRACTION_DIGITS = 8;
const FRACTION_ONE = 10n ** BigInt(FRACTION_DIGITS);
const UNITS_PER_FRACTION = 10n ** BigInt(SCALE - FRACTION_DIGITS);
export const WHOLE_SPLIT = 1_000_000_000n;

export const amountParts = (amount: string): { whole: bigint; fraction: bigint } => {
  const units = toUnits(amount) / UNITS_PER_FRACTION;
  return { whole: units / FRACTION_ONE, fraction: units % FRACTION_ONE };
};

/** Units (10^-10) from sums of whole parts and of fractions. */
export const unitsOfParts = (whole: bigint, fraction: bigint): bigint => (whole * FRACTION_ONE + fraction) * UNITS_PER_FRACTION;

/** Units (10^-10) from the sums of whole / WHOLE_SPLIT, whole % WHOLE_SPLIT and fraction over the same rows. */
export const unitsOfSums = (sums: { wholeHigh: bigint; wholeLow: bigint; fraction: bigint }): bigint =>
  unitsOfParts(sums.wholeHigh * WHOLE_SPLIT + sums.wholeLow, sums.fraction);

/** The amount a probability (a whole percentage) expects to win. */
export const weightedUnits = (units: bigint, probability: number): bigint => (units * BigInt(probability)) / 100n;

export const weightedAmount = (money: Money, probability: number): Money => ({
  amount: fromUnits(weightedUnits(toUnits(money.amount), probability)),
  currency: money.currency,
});

/** "18500" and "18500.00" are the same money. */
export const sameMoney = (a: Money | undefined, b: Money | undefined): boolean =>
  a === undefined || b === undefined
    ? a === b
    : a.currency === b.currency && toUnits(a.amount) === toUnits(b.amount);
