/**
 * `npm run bench:ids`: what making an id costs, and what keeping one costs the heap. The ids of
 * src/core/ids.ts are written character by character into a buffer and made one string; the
 * baseline is how they were made before, cut from a hex digest and put together with `slice` and
 * templates, which left each id a tree of strings holding on to the ones it was cut from. A seed
 * keeps each event's id, and its lead's, until its batch is written, and V8's young generation
 * copies what is kept at every collection it survives. For an event's id (`withTimeOf` of
 * `deterministicId`, as `toNewEvent` makes it), a seed's lead id (`orderedId`) and a new random id
 * (`newId`): ns an id and bytes of heap an id kept, `BENCH_IDS` (200,000) ids kept a round,
 * `BENCH_IDS_ROUNDS` (5) rounds, both ways in turn, medians. The deterministic ids are checked
 * equal both ways. Needs `--expose-gc` (the npm script gives it) to count the bytes kept.
 */
import { createHash, hash, randomUUID } from 'node:crypto';
import { CRM_NAMESPACE, deterministicId, newId, orderedId, withTimeOf } from '../src/core/ids';
import { envNumber, median } from './harness';

const IDS = envNumber('BENCH_IDS', 200_000, 1);
const ROUNDS = envNumber('BENCH_IDS_ROUNDS', 5, 1);

// The ids as they were made before, as they were.
const NAMESPACE_BYTES = Buffer.from(CRM_NAMESPACE.replace(/-/g, ''), 'hex');
const NAME_ROOM = 2048;
const NAMED = Buffer.alloc(NAMESPACE_BYTES.length + NAME_ROOM);
NAMESPACE_BYTES.copy(NAMED);
const VARIANT_DIGIT: readonly string[] = (() => {
  const digits: string[] = [];
  for (const digit of '0123456789abcdef') digits[digit.charCodeAt(0)] = ((parseInt(digit, 16) & 0x3) | 0x8).toString(16);
  return digits;
})();
const baselineDeterministicId = (...parts: Array<string | number>): string => {
  const name = parts.join('\u001f');
  const hex =
    name.length * 3 <= NAME_ROOM
      ? hash('sha1', NAMED.subarray(0, NAMESPACE_BYTES.length + NAMED.write(name, NAMESPACE_BYTES.length, 'utf8')), 'hex')
      : createHash('sha1').update(NAMESPACE_BYTES).update(name, 'utf8').digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${VARIANT_DIGIT[hex.charCodeAt(16)]}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
};
const baselineWithTime = (atMs: number, uuid: string, version: '7' | '8'): string => {
  const ms = Math.floor(atMs);
  if (!(ms >= 0 && ms <= 2 ** 48 - 1)) throw new RangeError(`not a time a UUID can hold: ${atMs}`);
  const time = ms.toString(16).padStart(12, '0');
  return `${time.slice(0, 8)}-${time.slice(8)}-${version}${uuid.slice(15)}`;
};
const baselineIsTimeOrdered = (id: string): boolean =>
  id.length === 36 && (id.charCodeAt(14) === 0x37 || id.charCodeAt(14) === 0x38) && id.charCodeAt(8) === 0x2d && id.charCodeAt(13) === 0x2d;
const baseline = {
  deterministicId: baselineDeterministicId,
  orderedId: (atMs: number, ...parts: Array<string | number>) => baselineWithTime(atMs, baselineDeterministicId(...parts), '8'),
  withTimeOf: (source: string, id: string) => (baselineIsTimeOrdered(source) ? `${source.slice(0, 13)}-8${id.slice(15)}` : id),
  newId: () => baselineWithTime(Date.now(), randomUUID(), '7'),
};
const current = { deterministicId, orderedId, withTimeOf, newId };
type Ids = typeof current;

const gc = (globalThis as { gc?: () => void }).gc;
const COMMAND = orderedId(Date.parse('2025-03-01T09:00:00.000Z'), 'command', 1);
const KINDS: Array<[string, (ids: Ids, n: number) => string]> = [
  ["an event's id", (ids, n) => ids.withTimeOf(COMMAND, ids.deterministicId(COMMAND, n))],
  ["a seed's lead id", (ids, n) => ids.orderedId(Date.parse('2025-03-01T09:00:00.000Z') + n, 'seed', 42, 'lead', n)],
  ['a new random id', (ids) => ids.newId()],
];

/** One round: ns an id, and bytes of heap an id kept (NaN without `--expose-gc`). */
const round = (ids: Ids, make: (ids: Ids, n: number) => string) => {
  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const kept: string[] = new Array(IDS);
  const start = process.hrtime.bigint();
  for (let n = 0; n < IDS; n++) kept[n] = make(ids, n);
  const ns = Number(process.hrtime.bigint() - start) / IDS;
  gc?.();
  const bytes = gc ? (process.memoryUsage().heapUsed - heapBefore) / IDS : NaN;
  return { ns, bytes, kept };
};

const main = () => {
  if (!gc) console.log('(no --expose-gc: bytes kept are not counted)');
  for (const [kind, make] of KINDS) {
    // Warmed up, and the deterministic ids checked equal both ways.
    const [was, is] = [round(baseline, make).kept, round(current, make).kept];
    if (kind !== 'a new random id' && was.some((id, n) => id !== is[n])) throw new Error(`${kind}: the ids differ from those made before`);
    const times = { baseline: [] as number[], current: [] as number[] };
    const bytes = { baseline: [] as number[], current: [] as number[] };
    for (let r = 0; r < ROUNDS; r++) {
      for (const way of r % 2 === 0 ? (['baseline', 'current'] as const) : (['current', 'baseline'] as const)) {
        const result = round(way === 'baseline' ? baseline : current, make);
        times[way].push(result.ns);
        bytes[way].push(result.bytes);
      }
    }
    console.log(
      `${kind}: ${median(times.current).toFixed(0)} ns and ${median(bytes.current).toFixed(0)} bytes kept, ` +
        `before ${median(times.baseline).toFixed(0)} ns and ${median(bytes.baseline).toFixed(0)} bytes ` +
        `(time ${(median(times.current) / median(times.baseline)).toFixed(2)}, bytes ${(median(bytes.current) / median(bytes.baseline)).toFixed(2)})`,
    );
  }
};

main();
