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
