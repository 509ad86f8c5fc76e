/**
 * `npm run bench:positions`: nanoseconds per comparison of two PostgreSQL log positions, as the
 * store compares them (`comparePostgresPositions`) beside the way it did until then (a regular
 * expression and two BigInts for each side), on positions as a load of captures makes them. The
 * projection runner compares every waiter and every event of a batch with the checkpoints.
 */
import { comparePostgresPositions } from '../src/eventStores/postgres';

const regexAndBigInts = (a: string, b: string): number => {
  const parse = (position: string) => {
    const match = /^(\d{1,20}):(\d{1,19})$/.exec(position);
    if (match === null) throw new RangeError(`Not a PostgreSQL position: ${position}`);
    return [match[1]!, match[2]!].map(BigInt) as [bigint, bigint];
  };
  const [aTransaction, aSequence] = parse(a);
  const [bTransaction, bSequence] = parse(b);
  if (aTransaction !== bTransaction) return aTransaction < bTransaction ? -1 : 1;
  return aSequence === bSequence ? 0 : aSequence < bSequence ? -1 : 1;
};

// Three events a transaction, as appends grouped in one commit make them.
const positions = Array.from({ length: 1000 }, (_, index) => `${7_300_000 + Math.floor(index / 3)}:${1_000_000 + index}`);
const ROUNDS = 1000;

const nanosecondsPerComparison = (compare: (a: string, b: string) => number): number => {
  let sink = 0;
  const started = performance.now();
  for (let round = 0; round < ROUNDS; round++) {
    for (let index = 1; index < positions.length; index++) sink += compare(positions[index]!, positions[index - 1]!);
  }
  if (sink !== ROUNDS * (positions.length - 1)) throw new Error('the comparisons disagree with the log order');
  return ((performance.now() - started) * 1e6) / (ROUNDS * (positions.length - 1));
};

for (let pass = 1; pass <= 3; pass++) {
  const before = nanosecondsPerComparison(regexAndBigInts);
  const now = nanosecondsPerComparison(comparePostgresPositions);
  console.log(`pass ${pass}: ${now.toFixed(0)} ns per comparison, against ${before.toFixed(0)} ns with a regular expression and BigInts (${(before / now).toFixed(1)}x)`);
}
