/**
 * Many commands, each on its own stream, checked one by one exactly as `handleCommand` checks
 * one, and stored together: one `appendToStreams` (one durable transaction on SQLite and
 * PostgreSQL) instead of two appends, two commits, per command. A bulk import's rows are such
 * commands; committing each on its own cost more than everything else an import does (issue 13).
 *
 * Each command's stream (and its key's first use) is read first, then planned by the command
 * handler's own `planCommand`: a replay answers as the first run did, a refused command its
 * error, the others' events (each keyed command's `IdempotencyKeyUsed` just before them, unless
 * its stream is named after its key) go to the store in the commands' order. When the store
 * refuses the batch (another writer appended to one of its streams meanwhile: another request's
 * row with the same key and other content, say), nothing was written, and each of its commands
 * goes through `handleCommand` instead, which reads again and retries as usual. (The same
 * command's events appended by another request meanwhile have the same ids at the same place:
 * the store takes the batch's entry for a retry of them.) A command on a stream an earlier command
 * of the batch also names (the same row twice in a file) runs after the batch, through
 * `handleCommand`, and so finds the earlier one's events as a single command would.
 *
 * On a store whose `appendToStreams` is not one transaction (EventStoreDB appends its entries one
 * after the other) a batch would save nothing and lose the concurrency of separate commands: the
 * commands go through `handleCommand`, several at a time, as they did before batches.
 */
import { handleCommand, keyUseStreamAppend, planCommand, readStreamOrEmpty, resultOfAppend, type CommandContext, type CommandResult, type PlannedAppend } from './commandHandler';
import type { Decider, DomainEvent } from './decider';
import { ConcurrencyConflictError, type EventStore, type StreamAppend } from './eventStore';
import { idempotencyStreamId } from './idempotencyKeys';

export interface BatchedCommand<Command> {
  streamId: string;
  command: Command;
  context: CommandContext;
  /** The stream's id was drawn at random for this command: see `HandleOptions.freshStream`. */
  freshStream?: boolean;
  /** The stream is named after the command's key: see `HandleOptions.keyNamesStream`. */
  keyNamesStream?: boolean;
}

/** Per command, in the order given: its result, or the error `handleCommand` would have thrown. */
export type BatchedOutcome<State> = { result: CommandResult<State> } | { error: unknown };

/**
 * Streams read (or, on EventStoreDB, commands handled) at once, as many as importLeads kept in
 * flight before batches: PostgreSQL and EventStoreDB answer them side by side.
 */
const DEFAULT_CONCURRENCY = 128;

export const handleCommandsTogether = async <State, Command, Event extends DomainEvent>(
  store: EventStore,
  decider: Decider<State, Command, Event>,
  commands: readonly BatchedCommand<Command>[],
  options: { concurrency?: number } = {},
): Promise<BatchedOutcome<State>[]> => {
  const outcomes: BatchedOutcome<State>[] = new Array(commands.length);
  const { together, after } = splitByStream(commands);
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  const alone = async (index: number) => {
    outcomes[index] = await handleAlone(store, decider, commands[index]!);
  };
  if (!store.appendsToStreamsAtomically) {
    await forEachAtMost(concurrency, together, alone);
    for (const index of after) await alone(index);
    return outcomes;
  }

  const plans = new Map<number, PlannedAppend<State>>();
  await forEachAtMost(concurrency, together, async (index) => {
    const { streamId, command, context, freshStream, keyNamesStream } = commands[index]!;
    try {
      const recorded = freshStream ? [] : await readStreamOrEmpty(store, streamId);
      const plan = await planCommand(store, decider, streamId, recorded, command, context, { keyNamesStream });
      if ('answer' in plan) outcomes[index] = { result: plan.answer };
      else plans.set(index, plan);
    } catch (error) {
      outcomes[index] = { error };
    }
  });

  const planned = together.filter((index) => plans.has(index));
  if (planned.length > 0) {
    const appends: StreamAppend[] = [];
    const eventsEntry = new Map<number, number>();
    for (const index of planned) {
      const plan = plans.get(index)!;
      if (plan.keyUse) appends.push(keyUseStreamAppend(plan.keyUse));
      eventsEntry.set(index, appends.length);
      appends.push({ streamId: plan.streamId, events: plan.events, expectedRevision: plan.expectedRevision });
    }
    try {
      const results = await store.appendToStreams(appends);
      for (const index of planned) outcomes[index] = { result: resultOfAppend(plans.get(index)!, results[eventsEntry.get(index)!]!) };
    } catch (error) {
      // Nothing of the batch was written: each command on its own, as if there had been no batch.
      if (!(error instanceof ConcurrencyConflictError)) throw error;
      await forEachAtMost(concurrency, planned, alone);
    }
  }

  // In order, after the batch: each finds what the commands before it wrote.
  for (const index of after) await alone(index);
  return outcomes;
};

/**
 * Indexes of the commands that can go together (no two on one stream or one key), and of those
 * that must come after them.
 */
const splitByStream = (commands: readonly BatchedCommand<unknown>[]): { together: number[]; after: number[] } => {
  const claimed = new Set<string>();
  const together: number[] = [];
  const after: number[] = [];
  commands.forEach(({ streamId, context }, index) => {
    const streams = context.idempotencyKey === undefined ? [streamId] : [streamId, idempotencyStreamId(context.commandId)];
    if (streams.some((stream) => claimed.has(stream))) {
      after.push(index);
      return;
    }
    for (const stream of streams) claimed.add(stream);
    together.push(index);
  });
  return { together, after };
};

/** One command through `handleCommand`: its result, or the error it threw. */
const handleAlone = async <State, Command, Event extends DomainEvent>(
  store: EventStore,
  decider: Decider<State, Command, Event>,
  { streamId, command, context, freshStream, keyNamesStream }: BatchedCommand<Command>,
): Promise<BatchedOutcome<State>> => {
  try {
    return { result: await handleCommand(store, decider, streamId, command, context, { freshStream, keyNamesStream }) };
  } catch (error) {
    return { error };
  }
};

/** Runs `task` for every item, at most `limit` at a time. */
const forEachAtMost = async <T>(limit: number, items: readonly T[], task: (item: T) => Promise<void>): Promise<void> => {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
};
