/**
 * `npm run bench:bounded-maps`: what letting the oldest entry of a full cache go costs, the way
 * the caches did it until 2026-12 (`map.delete(map.keys().next().value)`, a new iterator each
 * time) against `BoundedMap` (src/core/boundedMap.ts: one iterator kept at the oldest entry), at
 * the capacities of the caches that use it: 4,096 (events just sealed, leads the scorer knows),
 * 10,000 (tokens verified), 200,000 (the key of each stream's personal data). Each round sets
 * BENCH_MAP_SETS (1,000,000) new keys into a full map; the two ways alternate BENCH_MAP_ROUNDS (3)
 * times, and the medians are printed, with their ratio.
 */
import { BoundedMap } from '../src/core/boundedMap';
import { envNumber, median } from './harness';

const sets = envNumber('BENCH_MAP_SETS', 1_000_000, 1);
const rounds = envNumber('BENCH_MAP_ROUNDS', 3, 1);

/** Microseconds a set of a new key into a full map of `capacity`, evicting the way `evicting` does. */
const microsecondsASet = (capacity: number, fill: (map: Map<string, number>, key: string, n: number) => void, map: Map<string, number>): number => {
  for (let n = 0; n < capacity; n++) fill(map, `warm-${n}`, n);
  const started = process.hrtime.bigint();
  for (let n = 0; n < sets; n++) fill(map, `key-${n}`, n);
  return Number(process.hrtime.bigint() - started) / 1000 / sets;
};

const newIteratorEachTime = (capacity: number) => (map: Map<string, number>, key: string, n: number) => {
  if (map.size >= capacity) map.delete(map.keys().next().value!);
  map.set(key, n);
};

for (const capacity of [4_096, 10_000, 200_000]) {
  const before: number[] = [];
  const now: number[] = [];
  for (let round = 0; round < rounds; round++) {
    before.push(microsecondsASet(capacity, newIteratorEachTime(capacity), new Map()));
    now.push(microsecondsASet(capacity, (map, key, n) => map.set(key, n), new BoundedMap(capacity)));
  }
  console.log(
    `capacity ${capacity.toLocaleString('en-US')}: a new iterator each eviction ${median(before).toFixed(2)} us a set, ` +
      `BoundedMap ${median(now).toFixed(2)} us (${(median(before) / median(now)).toFixed(1)}x), medians of ${rounds}`,
  );
}
