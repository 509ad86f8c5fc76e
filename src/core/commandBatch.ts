/**
 * Many commands, each on its own stream, checked one by one exactly as `handleCommand` checks
 * one, and stored together: one `appendToStreams` (one durable transaction on SQLite and
 * PostgreSQL) instead of two appends, two commits, per command. A bulk import's rows are such
 * commands; committing each on its own cost more than everything else an import does (issue 13).
 *
 * Each command's stream (and its key's first use) is read first, then planned by the command
 * handler's own `planCommand`: a replay answers as the first run did, a refused command its
 * error, the others' events (each keyed command's `IdempotencyKeyUsed` just before them) go to
 * the store in the commands' order. When the store refuses the batch (another writer appended to
 * one of its streams meanwhile: a concurrent import of the same rows), nothing was written where
 * the store has transactions, and each of its commands goes through `handleCommand` instead,
 * which reads again and retries as usual. A command on a stream an earlier command of the batch
 * also names (the same row twice in a file) runs after the batch, through `handleCommand`, and so
 * finds the earlier one's events as a single command would.
 */
import { handleCommand, keyUseStreamAppend, planCommand, readStreamOrEmpty, resultOfAppend, type CommandContext, type CommandResult, type PlannedAppend } from './commandHandler';
import type { Decider, DomainEvent } from './decider';
import { ConcurrencyConflictError, type StreamAppend } from './eventStore';
import type { EventStore } from './eventStore';
import { idempotencyStreamId } from './idempotencyKeys';

export interface BatchedCommand<Command> {
  streamId: string;
  command: Command;
  context: CommandContext;
  /** The stream's id was drawn at random for this command: see `HandleOptions.freshStream`. */
  freshStream?: boolean;
}

/** Per command, in the order given: its result, or the error `handleCommand` would have thrown. */
export type BatchedOutcome<State> = { result: CommandResult<State> } | { error: unknown };

/** Streams read at once while planning: PostgreSQL answers them on several connections. */
const DEFAULT_CONCURRENT_READS = 32;

export const handleCommandsTogether = async <State, Command, Event extends DomainEvent>(
  store: EventStore,
  decider: Decider<State, Command, Event>,
  commands: readonly BatchedCommand<Command>[],
  options: { concurrentReads?: number } = {},
): Promise<BatchedOutcome<State>[]> => {
  const outcomes: BatchedOutcome<State>[] = new Array(commands.length);
  const { together, after } = splitByStream(commands);
  const plans = new Map<number, PlannedAppend<State>>();

  await forEachAtMost(options.concurrentReads ?? DEFAULT_CONCURRENT_READS, together, async (index) => {
    const { streamId, command, context, freshStream } = commands[index]!;
    try {
      const recorded = freshStream ? [] : await readStreamOrEmpty(store, streamId);
      const plan = await planCommand(store, decider, streamId, recorded, command, context);
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
      if (!(error instanceof ConcurrencyConflictError)) throw error;
      await forEachAtMost(options.concurrentReads ?? DEFAULT_CONCURRENT_READS, planned, async (index) => {
        outcomes[index] = await handleAlone(store, decider, commands[index]!, plans.get(index)!);
      });
    }
  }

  // In order, after the batch: each finds what the commands before it wrote.
  for (const index of after) outcomes[index] = await handleAlone(store, decider, commands[index]!);
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

/**
 * One command through `handleCommand`. `refused`: its plan in a batch the store refused, on a
 * store without transactions across streams (EventStoreDB) that may have kept the entries before
 * the refused one: its events found there with this request's correlation id and recorded time
 * are its own, written by the batch, not a replay of an earlier request.
 */
const handleAlone = async <State, Command, Event extends DomainEvent>(
  store: EventStore,
  decider: Decider<State, Command, Event>,
  { streamId, command, context, freshStream }: BatchedCommand<Command>,
  refused?: PlannedAppend<State>,
): Promise<BatchedOutcome<State>> => {
  try {
    const result = await handleCommand(store, decider, streamId, command, context, { freshStream });
    if (result.replayed && refused !== undefined) {
      const mine = refused.events[0]!;
      const stored = (await readStreamOrEmpty(store, streamId)).find((event) => event.id === mine.id);
      if (stored?.metadata.correlationId === mine.metadata.correlationId && stored.metadata.recordedAt === mine.metadata.recordedAt) {
        return { result: { ...result, replayed: false } };
      }
    }
    return { result };
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
