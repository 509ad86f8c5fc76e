/**
 * A PROTOCOL MODEL of an EventStoreDB node, for tests: not the server. It speaks gRPC on a
 * loopback port with the service definitions and messages that `@eventstore/db-client` 6 ships
 * (`node_modules/@eventstore/db-client/generated`), so the real client, and the adapter through
 * it, talk to it as to a single insecure node (`esdb://127.0.0.1:<port>?tls=false`).
 *
 * What it implements is what the adapter uses, each rule modelled on the server's source
 * (github.com/kurrent-io/KurrentDB, read at commit 44996ed05; paths below are under
 * src/KurrentDB.Core/), cited where the rule is:
 * - ServerFeatures.GetSupportedMethods (Services/Transport/Grpc/ServerFeatures.cs): lists the
 *   methods with their features (Read: "position", "events"; BatchAppend: "deadline_duration").
 *   `advertiseBatchAppend: false` leaves BatchAppend out, as an older server would, so the client
 *   uses the plain Append (its appendToStream/index.js asks `supports(batchAppend)`).
 * - Streams.Append and Streams.BatchAppend (Services/Transport/Grpc/Streams.Append.cs,
 *   Streams.BatchAppend.cs): the four expected-revision forms; success answers the stream's
 *   last revision and a position; a wrong expected version answers the expected form and the
 *   actual revision (or "no stream"), as an AppendResp.WrongExpectedVersion on Append and as a
 *   google.rpc.Status carrying event_store.client.WrongExpectedVersion on BatchAppend.
 * - The commit check, idempotency included (Services/Storage/ReaderIndex/IndexWriter.cs,
 *   CheckCommit; StorageWriterService.cs turns Idempotent into "already committed" and
 *   CorruptedIdempotency into a wrong expected version): see `checkCommit` below.
 * - Positions (Services/Storage/ReaderIndex/AllReader.cs): an event is a prepare record at a log
 *   position (a byte offset); a write's records are committed implicitly, so an event's `$all`
 *   position is (commit, prepare) = (its log position, its log position). Reading `$all` forwards
 *   from a position includes the event at it; backwards from a position, only events before it.
 * - The append's answered position (Services/RequestManager/Managers/WriteEvents.cs, "not
 *   technically correct, but matches current behavior"): the commit acknowledgement's position,
 *   here the write's first record (its transaction position), NOT the last event's; an
 *   idempotent retry answers the log position of the original write's last event.
 * - Read (Services/Transport/Grpc/Streams.Read.cs and Services/Transport/Enumerators/): stream
 *   reads forwards/backwards from a revision, start or end, with a count; a missing stream is a
 *   ReadResp.StreamNotFound; `$all` reads forwards/backwards, optionally filtered
 *   (EventFilter.EventType/StreamName, prefixes or regex).
 * - subscribeToAll (Enumerator.AllSubscription.cs, Enumerator.AllSubscriptionFiltered.cs): a
 *   confirmation first; a start position is exclusive ("we should send on events _after_ this");
 *   catch-up, then caughtUp, then live events in log order. Filtered subscriptions send a
 *   checkpoint every `checkpointIntervalMultiplier × maxSearchWindow` considered events (the
 *   window defaults to 32, Enumerator.cs DefaultReadBatchSize) and one when going live.
 * - System events: a fresh node's log starts with some of its own (`$`-prefixed streams and
 *   types); `systemEventEvery` writes one more (`$statsCollected` on `$stats-127.0.0.1:2113`,
 *   as the stats collector does) after every N client appends, so readers meet them on top of
 *   the log too. `writeSystemEvent()` writes one on demand.
 *
 * What it leaves out: persistence (memory only), authentication and ACLs, TLS, clusters (gossip
 * is not served; the client's single-node path does not ask for it), stream deletion,
 * metadata streams and $maxCount/$maxAge, links and projections, max append size, deadlines.
 * The weak idempotency check (ANY / STREAM_EXISTS) looks ids up in a cache of recent events on
 * the server (`_committedEvents`); here the cache never forgets, which is the server's best case.
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { Any } from 'google-protobuf/google/protobuf/any_pb';
import { Empty as ProtoEmpty } from 'google-protobuf/google/protobuf/empty_pb';
import { ServerFeaturesService } from '@eventstore/db-client/generated/serverfeatures_grpc_pb';
import { SupportedMethod, SupportedMethods } from '@eventstore/db-client/generated/serverfeatures_pb';
import {
  AllStreamPosition,
  Empty,
  StreamIdentifier,
  UUID,
  WrongExpectedVersion as SharedWrongExpectedVersion,
} from '@eventstore/db-client/generated/shared_pb';
import { Status } from '@eventstore/db-client/generated/status_pb';
import { StreamsService } from '@eventstore/db-client/generated/streams_grpc_pb';
import {
  AppendReq,
  AppendResp,
  BatchAppendReq,
  BatchAppendResp,
  ReadReq,
  ReadResp,
} from '@eventstore/db-client/generated/streams_pb';

export interface EventStoreDbModelOptions {
  /** Advertise Streams.BatchAppend in server features (the client then prefers it). Default true. */
  advertiseBatchAppend?: boolean;
  /** Write a system event after every N appends (0: never). Default 0. */
  systemEventEvery?: number;
  /** Port to listen on (0: any free one). */
  port?: number;
}

export interface ModelRecord {
  streamId: string;
  revision: bigint;
  id: string;
  type: string;
  contentType: string;
  data: Uint8Array;
  metadata: Uint8Array;
  createdTicks: bigint;
  position: bigint;
}

export interface EventStoreDbModel {
  /** A connection string for the client: `esdb://127.0.0.1:<port>?tls=false`. */
  readonly url: string;
  readonly port: number;
  /** Everything in the log, system events included, in `$all` order. */
  readonly log: readonly ModelRecord[];
  /** Appends one server event (`$statsCollected` on `$stats-127.0.0.1:2113`). */
  writeSystemEvent(): ModelRecord;
  /** Counts of calls received, by method (`append`, `batchAppend`, `read`, `subscribe`). */
  readonly calls: Record<string, number>;
  close(): Promise<void>;
}

// ExpectedVersion constants of the server (Core/Data/ExpectedVersion.cs): Any -2, NoStream -1, StreamExists -4.
const ANY = -2n;
const NO_STREAM = -1n;
const STREAM_EXISTS = -4n;
/** Enumerator.cs: DefaultReadBatchSize, the filtered subscription's default search window. */
const DEFAULT_MAX_SEARCH_WINDOW = 32;
/** .NET ticks (100 ns) between 0001-01-01 and the Unix epoch. */
const EPOCH_TICKS = 621_355_968_000_000_000n;
const SERVER_VERSION = '24.10.0';
const STATS_STREAM = '$stats-127.0.0.1:2113';

type Decision =
  | { kind: 'ok'; current: bigint }
  | { kind: 'idempotent'; last: bigint; logPosition: bigint }
  | { kind: 'wrong'; current: bigint };

type Proposed = { id: string; type: string; contentType: string; data: Uint8Array; metadata: Uint8Array };

type Filter = (record: ModelRecord) => boolean;

export async function startEventStoreDbModel(options: EventStoreDbModelOptions = {}): Promise<EventStoreDbModel> {
  const { advertiseBatchAppend = true, systemEventEvery = 0 } = options;
  const log: ModelRecord[] = [];
  const streams = new Map<string, ModelRecord[]>();
  /** The server's `_committedEvents` (IndexWriter.cs), here without eviction. */
  const committedById = new Map<string, ModelRecord>();
  const liveListeners = new Set<() => void>();
  const calls: Record<string, number> = { append: 0, batchAppend: 0, read: 0, subscribe: 0 };
  let nextLogPosition = 0n;
  let appendsSinceSystemEvent = 0;

  const write = (streamId: string, events: readonly Proposed[]): ModelRecord[] => {
    const stream = streams.get(streamId) ?? [];
    streams.set(streamId, stream);
    const createdTicks = BigInt(Date.now()) * 10_000n + EPOCH_TICKS;
    const written = events.map((event) => {
      const record: ModelRecord = {
        streamId,
        revision: BigInt(stream.length),
        ...event,
        createdTicks,
        position: nextLogPosition,
      };
      // A prepare record's size on disk: a header, the names, data and metadata.
      nextLogPosition += BigInt(
        80 + Buffer.byteLength(streamId) + Buffer.byteLength(event.type) + event.data.length + event.metadata.length,
      );
      stream.push(record);
      log.push(record);
      committedById.set(event.id, record);
      return record;
    });
    for (const listener of liveListeners) listener();
    return written;
  };

  const systemEvent = (streamId: string, type: string, data: unknown = {}): Proposed => ({
    id: randomUUID(),
    type,
    contentType: 'application/json',
    data: Buffer.from(JSON.stringify(data)),
    metadata: new Uint8Array(),
  });
  const writeSystemEvent = () =>
    write(STATS_STREAM, [systemEvent(STATS_STREAM, '$statsCollected', { 'proc-cpu': 1.5 })])[0]!;

  // What a fresh node writes to its log before any client does: stream metadata, the default
  // users, the default ACL settings (types from Services/SystemNames.cs SystemEventTypes, and
  // Authentication/InternalAuthentication/UserManagementService.cs "$UserCreated").
  write('$$$users', [systemEvent('$$$users', '$metadata', { $acl: { $r: '$admins' } })]);
  write('$users', [systemEvent('$users', '$UserCreated', { LoginName: 'admin' })]);
  write('$user-admin', [systemEvent('$user-admin', '$UserCreated', { LoginName: 'admin', FullName: 'KurrentDB Administrator' })]);
  write('$settings', [systemEvent('$settings', '$settings', { $userStreamAcl: {}, $systemStreamAcl: {} })]);

  const lastRevisionOf = (streamId: string): bigint => BigInt((streams.get(streamId)?.length ?? 0) - 1);

  /**
   * IndexWriter.CheckCommit, for a stream that is neither deleted nor soft-deleted and has no
   * metadata stream: the expected version against the stream's last event number, with the
   * weak (ANY, STREAM_EXISTS) and strong (exact, NO_STREAM) idempotency checks.
   */
  const checkCommit = (streamId: string, expected: bigint, ids: readonly string[]): Decision => {
    const current = lastRevisionOf(streamId);
    const stream = streams.get(streamId) ?? [];
    // "if (expectedVersion is ExpectedVersion.StreamExists) ... if (curVersion < 0) ... ConsistencyCheckFailure"
    if (expected === STREAM_EXISTS && current < 0n) return { kind: 'wrong', current };
    if (expected === ANY || expected === STREAM_EXISTS) {
      // "weak idempotency checks: ... check recently written events only"
      let first = true;
      let end = -1n;
      for (const id of ids) {
        const found = committedById.get(id);
        if (found && found.streamId === streamId) {
          end = found.revision;
          first = false;
          continue;
        }
        // "found an event that isn't already written": CorruptedIdempotency when not the first
        if (!first) return { kind: 'wrong', current };
        return { kind: 'ok', current };
      }
      if (first) return { kind: 'ok', current };
      return { kind: 'idempotent', last: end, logPosition: stream[Number(end)]!.position };
    }
    // "strong idempotency checks. the request specifies specific event numbers"
    if (expected < current) {
      let eventNumber = expected;
      for (let index = 0; index < ids.length; index++) {
        eventNumber += 1n;
        if (stream[Number(eventNumber)]?.id === ids[index]) continue;
        // the first not written: "trying to write new events earlier than the end of the
        // stream"; a later one: CorruptedIdempotency; both a consistency check failure
        return { kind: 'wrong', current };
      }
      if (ids.length === 0) return { kind: 'wrong', current };
      return { kind: 'idempotent', last: eventNumber, logPosition: stream[Number(eventNumber)]!.position };
    }
    // "writing after the end -> fail"; "writing exactly to the end ... -> ok"
    if (expected > current) return { kind: 'wrong', current };
    return { kind: 'ok', current };
  };

  type Outcome =
    | { kind: 'success'; lastRevision: bigint; position: bigint | undefined }
    | { kind: 'wrong'; current: bigint };

  const appendEvents = (streamId: string, expected: bigint, events: readonly Proposed[]): Outcome => {
    const decision = checkCommit(streamId, expected, events.map((event) => event.id));
    if (decision.kind === 'wrong') return decision;
    if (decision.kind === 'idempotent') {
      return { kind: 'success', lastRevision: decision.last, position: decision.logPosition };
    }
    if (events.length === 0) return { kind: 'success', lastRevision: decision.current, position: undefined };
    const written = write(streamId, events);
    if (systemEventEvery > 0 && ++appendsSinceSystemEvent >= systemEventEvery) {
      appendsSinceSystemEvent = 0;
      writeSystemEvent();
    }
    return { kind: 'success', lastRevision: written[written.length - 1]!.revision, position: written[0]!.position };
  };

  // -------------------------------------------------------------------------------------------
  // Messages.

  const streamNameOf = (identifier: StreamIdentifier | undefined): string =>
    Buffer.from(identifier?.getStreamName_asU8() ?? new Uint8Array()).toString('utf8');

  const identifierOf = (streamId: string) => {
    const identifier = new StreamIdentifier();
    identifier.setStreamName(Uint8Array.from(Buffer.from(streamId, 'utf8')));
    return identifier;
  };

  const uuidText = (uuid: UUID | undefined): string => {
    if (!uuid) throw new Error('event without id');
    if (uuid.hasStructured()) {
      const structured = uuid.getStructured()!;
      const bytes = Buffer.alloc(16);
      bytes.writeBigInt64BE(BigInt(structured.getMostSignificantBits()), 0);
      bytes.writeBigInt64BE(BigInt(structured.getLeastSignificantBits()), 8);
      const hex = bytes.toString('hex');
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    }
    return uuid.getString();
  };

  /** MetadataHelpers.ParseGrpcMetadata: "type" and "content-type" are required. */
  const proposedOf = (message: AppendReq.ProposedMessage | BatchAppendReq.ProposedMessage): Proposed => {
    const metadata = message.getMetadataMap();
    const type = metadata.get('type');
    const contentType = metadata.get('content-type');
    if (type === undefined || contentType === undefined) {
      throw Object.assign(new Error('Required metadata property is missing'), { code: grpc.status.INVALID_ARGUMENT });
    }
    return {
      id: uuidText(message.getId()),
      type,
      contentType,
      data: message.getData_asU8(),
      metadata: message.getCustomMetadata_asU8(),
    };
  };

  const readEventOf = (record: ModelRecord): ReadResp => {
    const recorded = new ReadResp.ReadEvent.RecordedEvent();
    const id = new UUID();
    id.setString(record.id);
    recorded.setId(id);
    recorded.setStreamIdentifier(identifierOf(record.streamId));
    recorded.setStreamRevision(record.revision.toString());
    recorded.setPreparePosition(record.position.toString());
    recorded.setCommitPosition(record.position.toString());
    recorded.getMetadataMap().set('type', record.type);
    recorded.getMetadataMap().set('content-type', record.contentType);
    recorded.getMetadataMap().set('created', record.createdTicks.toString());
    recorded.setCustomMetadata(record.metadata);
    recorded.setData(record.data);
    const event = new ReadResp.ReadEvent();
    event.setEvent(recorded);
    event.setCommitPosition(record.position.toString());
    const response = new ReadResp();
    response.setEvent(event);
    return response;
  };

  const filterOf = (options: ReadReq.Options): { filter: Filter; window: number; checkpointEvery: number } | undefined => {
    if (!options.hasFilter()) return undefined;
    const filterOptions = options.getFilter()!;
    const onType = filterOptions.hasEventType();
    const expression = onType ? filterOptions.getEventType()! : filterOptions.getStreamIdentifier()!;
    const regex = expression.getRegex();
    const prefixes = expression.getPrefixList();
    const pick = (record: ModelRecord) => (onType ? record.type : record.streamId);
    // EventFilter.EventType/StreamName: Regex when given, else Prefixes.
    const filter: Filter = regex
      ? ((pattern) => (record: ModelRecord) => pattern.test(pick(record)))(new RegExp(regex))
      : (record) => prefixes.some((prefix) => pick(record).startsWith(prefix));
    const window = filterOptions.hasMax() ? filterOptions.getMax() : DEFAULT_MAX_SEARCH_WINDOW;
    return { filter, window, checkpointEvery: Math.max(1, filterOptions.getCheckpointintervalmultiplier()) * window };
  };

  const checkpointOf = (position: bigint) => {
    const checkpoint = new ReadResp.Checkpoint();
    checkpoint.setCommitPosition(position.toString());
    checkpoint.setPreparePosition(position.toString());
    const response = new ReadResp();
    response.setCheckpoint(checkpoint);
    return response;
  };

  // -------------------------------------------------------------------------------------------
  // Services.

  const send = async (call: grpc.ServerWritableStream<ReadReq, ReadResp> | grpc.ServerDuplexStream<BatchAppendReq, BatchAppendResp>, message: never) => {
    if (!(call as grpc.ServerWritableStream<ReadReq, ReadResp>).write(message)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          for (const event of ['drain', 'cancelled', 'close']) call.off(event, done);
          resolve();
        };
        for (const event of ['drain', 'cancelled', 'close']) call.once(event, done);
      });
    }
  };

  const indexAtOrAfter = (position: bigint) => {
    // Binary search: the log is in position order.
    let low = 0;
    let high = log.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (log[middle]!.position < position) low = middle + 1;
      else high = middle;
    }
    return low;
  };

  const read = async (call: grpc.ServerWritableStream<ReadReq, ReadResp>) => {
    const options = call.request.getOptions();
    if (!options) return call.destroy(Object.assign(new Error('no options'), { code: grpc.status.INVALID_ARGUMENT }));
    let cancelled = false;
    call.on('cancelled', () => (cancelled = true));
    const backwards = options.getReadDirection() === ReadReq.Options.ReadDirection.BACKWARDS;
    const count = options.hasCount() ? BigInt(options.getCount()) : undefined;
    const filtering = filterOf(options);

    if (options.hasStream()) {
      calls.read! += 1;
      const streamOptions = options.getStream()!;
      const streamId = streamNameOf(streamOptions.getStreamIdentifier());
      const stream = streams.get(streamId);
      if (!stream) {
        // Enumerator.ReadStreamForwards/Backwards: ReadStreamResult.NoStream -> StreamNotFound.
        const notFound = new ReadResp.StreamNotFound();
        notFound.setStreamIdentifier(identifierOf(streamId));
        const response = new ReadResp();
        response.setStreamNotFound(notFound);
        await send(call, response as never);
        return call.end();
      }
      const last = BigInt(stream.length - 1);
      let from = streamOptions.hasStart() ? (backwards ? -1n : 0n) : streamOptions.hasEnd() ? (backwards ? last : last + 1n) : BigInt(streamOptions.getRevision());
      if (streamOptions.hasStart() && backwards) from = 0n;
      let sent = 0n;
      if (!backwards) {
        for (let revision = from; revision <= last && (count === undefined || sent < count) && !cancelled; revision++, sent++) {
          await send(call, readEventOf(stream[Number(revision)]!) as never);
        }
      } else {
        for (let revision = from > last ? last : from; revision >= 0n && (count === undefined || sent < count) && !cancelled; revision--, sent++) {
          await send(call, readEventOf(stream[Number(revision)]!) as never);
        }
      }
      return call.end();
    }

    const allOptions = options.getAll()!;
    if (options.hasSubscription()) return subscribe(call, allOptions, filtering, () => cancelled);
    calls.read! += 1;
    // AllReader.cs: forwards includes the event at the position; backwards only those before it.
    const position = allOptions.hasPosition() ? BigInt(allOptions.getPosition()!.getCommitPosition()) : undefined;
    let sent = 0n;
    const wanted = (record: ModelRecord) => !filtering || filtering.filter(record);
    if (!backwards) {
      let index = allOptions.hasEnd() ? log.length : position === undefined ? 0 : indexAtOrAfter(position);
      for (; index < log.length && (count === undefined || sent < count) && !cancelled; index++) {
        if (!wanted(log[index]!)) continue;
        await send(call, readEventOf(log[index]!) as never);
        sent++;
      }
    } else {
      let index = allOptions.hasStart() ? -1 : position === undefined ? log.length - 1 : indexAtOrAfter(position) - 1;
      for (; index >= 0 && (count === undefined || sent < count) && !cancelled; index--) {
        if (!wanted(log[index]!)) continue;
        await send(call, readEventOf(log[index]!) as never);
        sent++;
      }
    }
    call.end();
  };

  /** Enumerator.AllSubscription(Filtered): confirmation, catch-up (checkpoints), caughtUp, live. */
  const subscribe = async (
    call: grpc.ServerWritableStream<ReadReq, ReadResp>,
    allOptions: ReadReq.Options.AllOptions,
    filtering: ReturnType<typeof filterOf>,
    isCancelled: () => boolean,
  ) => {
    calls.subscribe! += 1;
    const confirmation = new ReadResp.SubscriptionConfirmation();
    confirmation.setSubscriptionId(randomUUID());
    const confirmed = new ReadResp();
    confirmed.setConfirmation(confirmation);
    await send(call, confirmed as never);

    // "we should send on events _after_ this": a start position is exclusive; End means live only.
    let index = allOptions.hasEnd()
      ? log.length
      : allOptions.hasPosition()
        ? indexAtOrAfter(BigInt(allOptions.getPosition()!.getCommitPosition()) + 1n)
        : 0;
    let considered = 0;
    let caughtUp = false;
    let wake: (() => void) | undefined;
    const listener = () => wake?.();
    liveListeners.add(listener);
    call.on('cancelled', listener);
    try {
      for (;;) {
        while (index < log.length && !isCancelled()) {
          const record = log[index++]!;
          considered += 1;
          if (!filtering || filtering.filter(record)) await send(call, readEventOf(record) as never);
          if (filtering && considered >= filtering.checkpointEvery) {
            considered %= filtering.checkpointEvery;
            await send(call, checkpointOf(record.position) as never);
          }
        }
        if (isCancelled()) return;
        if (!caughtUp) {
          caughtUp = true;
          // "issue a checkpoint when going live" (filtered only), then CaughtUp.
          if (filtering && log.length > 0) await send(call, checkpointOf(log[index - 1]?.position ?? 0n) as never);
          const response = new ReadResp();
          response.setCaughtUp(new ReadResp.CaughtUp());
          await send(call, response as never);
          continue;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      liveListeners.delete(listener);
    }
  };

  const append = (call: grpc.ServerReadableStream<AppendReq, AppendResp>, callback: grpc.sendUnaryData<AppendResp>) => {
    calls.append! += 1;
    let header: AppendReq.Options | undefined;
    const events: Proposed[] = [];
    let failed = false;
    const fail = (error: Error & { code?: number }) => {
      if (failed) return;
      failed = true;
      callback({ code: error.code ?? grpc.status.INVALID_ARGUMENT, details: error.message } as grpc.ServiceError);
    };
    call.on('data', (request: AppendReq) => {
      try {
        // Streams.Append.cs: the first message is the options, the rest proposed messages.
        if (!header) {
          if (!request.hasOptions()) throw new Error('The first message must be the options');
          header = request.getOptions()!;
        } else {
          if (!request.hasProposedMessage()) throw new Error('Expected a proposed message');
          events.push(proposedOf(request.getProposedMessage()!));
        }
      } catch (error) {
        fail(error as Error);
      }
    });
    call.on('end', () => {
      if (failed) return;
      if (!header) return fail(new Error('No options'));
      const streamId = streamNameOf(header.getStreamIdentifier());
      const expected = header.hasRevision()
        ? BigInt(header.getRevision())
        : header.hasNoStream()
          ? NO_STREAM
          : header.hasStreamExists()
            ? STREAM_EXISTS
            : ANY;
      const outcome = appendEvents(streamId, expected, events);
      const response = new AppendResp();
      if (outcome.kind === 'success') {
        const success = new AppendResp.Success();
        if (outcome.lastRevision === -1n) success.setNoStream(new Empty());
        else success.setCurrentRevision(outcome.lastRevision.toString());
        if (outcome.position === undefined) success.setNoPosition(new Empty());
        else {
          const position = new AppendResp.Position();
          position.setCommitPosition(outcome.position.toString());
          position.setPreparePosition(outcome.position.toString());
          success.setPosition(position);
        }
        response.setSuccess(success);
      } else {
        // Streams.Append.cs, OperationResult.WrongExpectedVersion.
        const wrong = new AppendResp.WrongExpectedVersion();
        if (header.hasAny()) wrong.setExpectedAny(new Empty());
        else if (header.hasStreamExists()) wrong.setExpectedStreamExists(new Empty());
        else if (header.hasNoStream()) wrong.setExpectedNoStream(new Empty());
        else wrong.setExpectedRevision(expected.toString());
        if (outcome.current === -1n) wrong.setCurrentNoStream(new Empty());
        else wrong.setCurrentRevision(outcome.current.toString());
        response.setWrongExpectedVersion(wrong);
      }
      callback(null, response);
    });
  };

  const batchAppend = (call: grpc.ServerDuplexStream<BatchAppendReq, BatchAppendResp>) => {
    const pending = new Map<string, { options: BatchAppendReq.Options; events: Proposed[] }>();
    let queue = Promise.resolve();
    call.on('data', (request: BatchAppendReq) => {
      const correlationId = request.getCorrelationId();
      const key = uuidText(correlationId);
      let batch = pending.get(key);
      if (!batch) {
        // Streams.BatchAppend.cs: the first request of a correlation carries the options.
        const options = request.getOptions();
        if (!options) {
          call.destroy(Object.assign(new Error('Options are required'), { code: grpc.status.INVALID_ARGUMENT }));
          return;
        }
        batch = { options, events: [] };
        pending.set(key, batch);
      }
      for (const message of request.getProposedMessagesList()) batch.events.push(proposedOf(message));
      if (!request.getIsFinal()) return;
      pending.delete(key);
      calls.batchAppend! += 1;
      const { options, events } = batch;
      const streamId = streamNameOf(options.getStreamIdentifier());
      const expected = options.hasStreamPosition()
        ? BigInt(options.getStreamPosition())
        : options.hasNoStream()
          ? NO_STREAM
          : options.hasStreamExists()
            ? STREAM_EXISTS
            : ANY;
      const outcome = appendEvents(streamId, expected, events);
      const response = new BatchAppendResp();
      response.setCorrelationId(correlationId);
      response.setStreamIdentifier(identifierOf(streamId));
      if (outcome.kind === 'success') {
        // BatchAppendResp.Success.Completed(commitPosition, preparePosition, lastEventNumber)
        const success = new BatchAppendResp.Success();
        if (outcome.lastRevision === -1n) success.setNoStream(new ProtoEmpty());
        else success.setCurrentRevision(outcome.lastRevision.toString());
        if (outcome.position === undefined) success.setNoPosition(new ProtoEmpty());
        else {
          const position = new AllStreamPosition();
          position.setCommitPosition(outcome.position.toString());
          position.setPreparePosition(outcome.position.toString());
          success.setPosition(position);
        }
        response.setSuccess(success);
      } else {
        // Status.WrongExpectedVersion (Services/Transport/Grpc/Status.cs): code FAILED_PRECONDITION (9), details packed.
        const details = new SharedWrongExpectedVersion();
        if (outcome.current === -1n) details.setCurrentNoStream(new ProtoEmpty());
        else details.setCurrentStreamRevision(outcome.current.toString());
        if (options.hasAny()) details.setExpectedAny(new ProtoEmpty());
        else if (options.hasStreamExists()) details.setExpectedStreamExists(new ProtoEmpty());
        else if (options.hasNoStream()) details.setExpectedNoStream(new ProtoEmpty());
        else details.setExpectedStreamPosition(expected.toString());
        const packed = new Any();
        packed.pack(details.serializeBinary(), 'event_store.client.WrongExpectedVersion');
        const status = new Status();
        status.setCode(9);
        status.setMessage('WrongExpectedVersion');
        status.setDetails(packed);
        response.setError(status);
      }
      queue = queue.then(() => send(call, response as never));
    });
    call.on('end', () => void queue.then(() => call.end()));
  };

  const server = new grpc.Server();
  const unimplemented = (_call: unknown, callback?: grpc.sendUnaryData<never>) =>
    callback?.({ code: grpc.status.UNIMPLEMENTED, details: 'Not part of the protocol model' } as grpc.ServiceError);
  server.addService(StreamsService, {
    read: (call: grpc.ServerWritableStream<ReadReq, ReadResp>) =>
      void read(call).catch((error: Error) => call.destroy(error)),
    append,
    batchAppend,
    delete: unimplemented,
    tombstone: unimplemented,
  });
  server.addService(ServerFeaturesService, {
    getSupportedMethods: (_call: unknown, callback: grpc.sendUnaryData<SupportedMethods>) => {
      const supported = new SupportedMethods();
      supported.setEventStoreServerVersion(SERVER_VERSION);
      const method = (name: string, features: string[] = []) => {
        const entry = new SupportedMethod();
        entry.setServiceName('event_store.client.streams.streams');
        entry.setMethodName(name);
        entry.setFeaturesList(features);
        return entry;
      };
      supported.setMethodsList([
        method('read', ['position', 'events']),
        method('append'),
        ...(advertiseBatchAppend ? [method('batchappend', ['deadline_duration'])] : []),
      ]);
      callback(null, supported);
    },
  });

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${options.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );

  return {
    url: `esdb://127.0.0.1:${port}?tls=false`,
    port,
    log,
    calls,
    writeSystemEvent,
    async close() {
      for (const listener of liveListeners) listener();
      // Live subscriptions never end by themselves: give calls a moment, then cut them.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 200);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
