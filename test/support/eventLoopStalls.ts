/**
 * How long the event loop went without running a timer while some work ran: what tests of work
 * that must not hold the thread (the report thread, a rebuild in turns) measure.
 */
export const longestStall = async <T>(work: () => Promise<T>, tickMs = 1): Promise<{ result: T; elapsedMs: number; longestStallMs: number }> => {
  let last = performance.now();
  let longestStallMs = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    longestStallMs = Math.max(longestStallMs, now - last);
    last = now;
  }, tickMs);
  try {
    // The ticker runs once before the work starts, so that a stall is measured from the work's start.
    await new Promise((resolve) => setTimeout(resolve, 10));
    last = performance.now();
    const started = last;
    const result = await work();
    // A stall that ends with the work has had no tick after it: measured here.
    const now = performance.now();
    return { result, elapsedMs: now - started, longestStallMs: Math.max(longestStallMs, now - last) };
  } finally {
    clearInterval(ticker);
  }
};

/**
 * How many turns the thread's other work got while `work` ran: a callback that schedules itself
 * again and again (`setImmediate`), counted rather than timed, so that the figure does not depend
 * on the machine's load. Counted from the start, or, with `fromStart` false, from when `work` calls
 * the `startCounting` it is given (once the wait for another thread is over, say).
 */
export const turnsBeside = async <T>(
  work: (startCounting: () => void) => Promise<T>,
  { fromStart = true }: { fromStart?: boolean } = {},
): Promise<{ result: T; turns: number }> => {
  let turns = 0;
  let counting = fromStart;
  let stopped = false;
  const other = () => {
    if (counting) turns += 1;
    if (!stopped) setImmediate(other);
  };
  setImmediate(other);
  try {
    const result = await work(() => (counting = true));
    return { result, turns };
  } finally {
    stopped = true;
  }
};
