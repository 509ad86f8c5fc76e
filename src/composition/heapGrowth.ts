/**
 * How far V8 lets the API's heap grow past what the last full collection kept.
 *
 * V8 picks that factor itself, up to 4 on a machine with memory to spare. The API's live heap is
 * small (about 45 MB under the insights bench's readers, at a million events), but reports that
 * are computed, cached and dropped again leave garbage in the old generation, and with a factor of
 * up to 4 the heap grew to fill it: the API peaked at 302 to 321 MiB resident in `npm run
 * bench:memory` (the insights bench's query phases), over issue 11's 300. With a factor of 2 it
 * peaked at 218 to 234 MiB. The price is full collections that come more often: reads per second
 * under writes moved within the machine's noise, but a KPI computed at each ask was a few ms slower
 * at p99 (interleaved runs; the figures are in README, under `bench:memory`). A factor of 1.5 went
 * down to 206 to 211 MiB but cost a quarter of the reads per second under writes.
 *
 * The flag is one V8 reads at every collection, so setting it at start works, and it leaves the
 * heap's limit alone: a larger live heap still grows, only sooner collected.
 */
import v8 from 'node:v8';

/** Heap growth of twice the live heap, in V8's terms: (1 + percent / 100). */
export const HEAP_GROWING_PERCENT = 100;

const FLAG = '--heap-growing-percent';

/**
 * The flag to set, unless the operator gave node one (`node --heap-growing-percent=300 dist/main.js`):
 * theirs stands. (NODE_OPTIONS does not accept this flag; the command line does.)
 */
export const heapGrowthFlag = (execArgv: readonly string[]): string | undefined =>
  execArgv.some((arg) => arg === FLAG || arg.startsWith(`${FLAG}=`) || arg.startsWith('--heap_growing_percent'))
    ? undefined
    : `${FLAG}=${HEAP_GROWING_PERCENT}`;

/** Sets the API's heap growth, before the heap grows. */
export const limitHeapGrowth = (execArgv: readonly string[] = process.execArgv): void => {
  const flag = heapGrowthFlag(execArgv);
  if (flag !== undefined) v8.setFlagsFromString(flag);
};
