/**
 * Copies the whole event log from one store to another, so a team can outgrow the embedded
 * SQLite store without losing history:
 *   npm run migrate-events -- --from sqlite --to postgres [--from-url …] [--to-url …]
 *
 * Events keep their ids, streams, revisions, types, data and metadata; global positions are
 * the target's own, in the source's order. Each append carries the exact revision the source
 * gave the event, so the target can never number a stream differently, and events already in
 * the target (by id, at the same place) are skipped: a run that was interrupted is simply run
 * again. Stop the API while copying: the log must not grow underneath the copy.
 *
 * Personal data travels sealed: the keys an event names are copied (rewrapped under the target's
 * CRM_DATA_KEY, CRM_TARGET_DATA_KEY when it differs) before the event, so the target opens what
 * the source opens and what was erased stays erased. Events written before encryption, with
 * personal fields in clear, are sealed on their way into the target under a new key per person:
 * copying an old log into a new store is how it comes under erasure.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigurationError, DATABASE_FILE } from '../composition/config';
import {
  ConcurrencyConflictError,
  NO_STREAM,
  type EventStore,
  type GlobalPosition,
  type NewEvent,
  type RecordedEvent,
} from '../core/eventStore';
import { readStreamOrEmpty } from '../core/commandHandler';
import { openEventStore, type EventStoreConfig } from '../eventStores/open';
import { envelopeOf } from '../personalData/envelope';
import type { KeyStore } from '../personalData/keyStore';
import { parseMasterKey, resolveMasterKey } from '../personalData/masterKey';
import { protectEventStore } from '../personalData/protectedEventStore';
import type { ReadStoreConfig } from '../../projections/sqlDatabase';
import { openKeyStore } from '../composition/eventLog';

export interface MigrationProgress {
  /** Events appended to the target by this run. */
  copied: number;
  /** Events found already in the target, from an earlier run. */
  skipped: number;
  /** The source position everything up to which is now in the target. */
  sourcePosition: GlobalPosition | undefined;
}

export interface MigrationOptions {
  /** Called after each page of the source log. */
  onProgress?(progress: MigrationProgress): void;
  pageSize?: number;
  /**
   * The key stores of both sides: keys are carried with the events, and personal data the source
   * holds in clear is sealed on the way in. Without them the events are copied exactly as stored.
   */
  keys?: { source: KeyStore; target: KeyStore };
}

/** The target holds something the source does not: copying on would mix two histories. */
export class MigrationConflictError extends Error {
  override readonly name = 'MigrationConflictError';
}

const DEFAULT_PAGE_SIZE = 500;

export const migrateEvents = async (
  source: EventStore,
  target: EventStore,
  { onProgress, pageSize = DEFAULT_PAGE_SIZE, keys }: MigrationOptions = {},
): Promise<MigrationProgress> => {
  const writer = keys ? protectEventStore(target, keys.target) : target;
  const alreadyInTarget = await idsByStream(target);
  await assertCopiedFrom(source, alreadyInTarget);
  const progress: MigrationProgress = { copied: 0, skipped: 0, sourcePosition: undefined };
  for (;;) {
    const page = await source.readAll({ fromPosition: progress.sourcePosition, maxCount: pageSize });
    for (const run of runsOfOneStream(page)) {
      const copiedBefore = alreadyInTarget.get(run[0]!.streamId)?.length ?? 0;
      // Each stream of the target is a prefix of the source's, so what it holds starts the run.
      const alreadyCopied = run.filter((event) => event.revision < copiedBefore).length;
      progress.skipped += alreadyCopied;
      const toCopy = run.slice(alreadyCopied);
      if (toCopy.length > 0) {
        if (keys) await keys.source.copyTo(keys.target, keyIdsNamedBy(toCopy));
        await appendAsInSource(writer, toCopy);
        progress.copied += toCopy.length;
      }
    }
    if (page.length > 0) progress.sourcePosition = page[page.length - 1]!.position;
    onProgress?.({ ...progress });
    if (page.length < pageSize) return progress;
  }
};

const keyIdsNamedBy = (events: readonly RecordedEvent[]): string[] =>
  events.map((event) => envelopeOf(event.data)?.keyId).filter((keyId): keyId is string => keyId !== undefined);

/** Every event id in the store, by stream and revision: what an earlier run already copied. */
const idsByStream = async (store: EventStore): Promise<Map<string, string[]>> => {
  const ids = new Map<string, string[]>();
  let position: GlobalPosition | undefined;
  for (;;) {
    const page = await store.readAll({ fromPosition: position, maxCount: DEFAULT_PAGE_SIZE });
    for (const event of page) {
      const stream = ids.get(event.streamId) ?? [];
      stream[event.revision] = event.id;
      ids.set(event.streamId, stream);
    }
    if (page.length < DEFAULT_PAGE_SIZE) return ids;
    position = page[page.length - 1]!.position;
  }
};

/** Refuses a target holding anything but the beginnings of the source's streams: copying on would mix two histories. */
const assertCopiedFrom = async (source: EventStore, inTarget: ReadonlyMap<string, string[]>): Promise<void> => {
  for (const [streamId, ids] of inTarget) {
    const inSource = (await readStreamOrEmpty(source, streamId)).map((event) => event.id);
    const revision = ids.findIndex((id, index) => id !== inSource[index]);
    if (revision >= 0) {
      throw new MigrationConflictError(
        `The target's stream ${streamId} holds event ${ids[revision]} at revision ${revision}, where the source has ` +
          `${inSource[revision] ?? 'nothing'}: the target already holds another history`,
      );
    }
  }
};

/** Consecutive events of one stream at consecutive revisions: one append each keeps the order and saves round trips. */
const runsOfOneStream = (page: readonly RecordedEvent[]): RecordedEvent[][] => {
  const runs: RecordedEvent[][] = [];
  for (const event of page) {
    const current = runs[runs.length - 1];
    const previous = current?.[current.length - 1];
    if (previous && previous.streamId === event.streamId && previous.revision + 1 === event.revision) {
      current!.push(event);
    } else {
      runs.push([event]);
    }
  }
  return runs;
};

const appendAsInSource = async (target: EventStore, events: readonly RecordedEvent[]): Promise<void> => {
  const first = events[0]!;
  const copies: NewEvent[] = events.map(({ id, type, data, metadata }) => ({ id, type, data, metadata }));
  try {
    await target.appendToStream(first.streamId, copies, {
      expectedRevision: first.revision === 0 ? NO_STREAM : first.revision - 1,
    });
  } catch (error) {
    if (!(error instanceof ConcurrencyConflictError)) throw error;
    throw new MigrationConflictError(
      `Cannot copy ${first.streamId} from revision ${first.revision}: ${error.message}. The target holds events the source does not`,
      { cause: error },
    );
  }
};

// ---------------------------------------------------------------------------------------------
// The command line.

const STORE_KINDS = ['sqlite', 'postgres', 'eventstoredb'] as const;
type StoreKind = (typeof STORE_KINDS)[number];

const USAGE = `usage: npm run migrate-events -- --from <store> --to <store> [options]

  stores: sqlite, postgres, eventstoredb, located as the server finds them:
    sqlite        $CRM_DATA_DIR/${DATABASE_FILE} (default ./data/${DATABASE_FILE})
    postgres      $DATABASE_URL, schema $CRM_PG_SCHEMA (default public)
    eventstoredb  $EVENTSTORE_URL (e.g. esdb://localhost:2113?tls=false)

  --from-url, --to-url        override that location (a file path for sqlite)
  --from-schema, --to-schema  override the PostgreSQL schema
  --from-keys, --to-keys      where that side keeps its personal-data keys: a SQLite file or a
                              postgres:// URL (schema as above). Default: the same SQLite file or
                              PostgreSQL schema as the events; for eventstoredb, the server's read
                              store (CRM_READ_STORE, DATABASE_URL, CRM_DATA_DIR)

  Keys are unwrapped with CRM_DATA_KEY (in development, the data-key file beside a SQLite
  source, else in CRM_DATA_DIR) and rewrapped with CRM_TARGET_DATA_KEY when set. Personal data
  the source holds in clear (a log written before encryption) is sealed in the target: the way
  to bring an old log under erasure.

Stop the API first. Running it again after an interruption copies only what is missing.`;

/** Where a store of `kind` lives, from an explicit location or else the server's own settings. */
export const storeConfig = (
  kind: StoreKind,
  env: NodeJS.ProcessEnv,
  location: string | undefined,
  schema: string | undefined,
): EventStoreConfig => {
  switch (kind) {
    case 'sqlite':
      return { kind, filename: path.resolve(location ?? path.join(env.CRM_DATA_DIR || 'data', DATABASE_FILE)) };
    case 'postgres':
      return {
        kind,
        connectionString: location ?? required(env, 'DATABASE_URL', kind),
        schema: schema ?? (env.CRM_PG_SCHEMA || 'public'),
      };
    case 'eventstoredb':
      return { kind, connectionString: location ?? required(env, 'EVENTSTORE_URL', kind) };
  }
};

const required = (env: NodeJS.ProcessEnv, variable: string, kind: StoreKind): string => {
  const value = env[variable];
  if (!value) throw new ConfigurationError(variable, `is required to reach the ${kind} store (or pass its --*-url)`);
  return value;
};

const kindOf = (flag: string, value: string | undefined): StoreKind => {
  if (!(STORE_KINDS as readonly string[]).includes(value ?? '')) {
    throw new ConfigurationError(flag, `must be ${STORE_KINDS.join(', ')}; got ${JSON.stringify(value ?? '')}`);
  }
  return value as StoreKind;
};

const sameStore = (a: EventStoreConfig, b: EventStoreConfig): boolean => JSON.stringify(a) === JSON.stringify(b);

class UsageError extends Error {}

const parse = (argv: string[]) => {
  try {
    return parseArgs({
      args: argv,
      options: {
        from: { type: 'string' },
        to: { type: 'string' },
        'from-url': { type: 'string' },
        'to-url': { type: 'string' },
        'from-schema': { type: 'string' },
        'to-schema': { type: 'string' },
        'from-keys': { type: 'string' },
        'to-keys': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
};

const main = async (argv: string[], env: NodeJS.ProcessEnv): Promise<void> => {
  const values = parse(argv);
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const from = storeConfig(kindOf('--from', values.from), env, values['from-url'], values['from-schema']);
  const to = storeConfig(kindOf('--to', values.to), env, values['to-url'], values['to-schema']);
  if (sameStore(from, to)) throw new ConfigurationError('--to', 'names the same store as --from');
  // Opening a missing file would create an empty store and copy nothing, successfully.
  if (from.kind === 'sqlite' && !existsSync(from.filename)) {
    throw new ConfigurationError(values['from-url'] ? '--from-url' : 'CRM_DATA_DIR', `has no SQLite event store at ${from.filename}`);
  }

  // In development the master key is a file beside the SQLite store that it serves.
  const sourceMasterKey = resolveMasterKey({
    env,
    dataDir: from.kind === 'sqlite' ? path.dirname(from.filename) : path.resolve(env.CRM_DATA_DIR || 'data'),
    production: env.NODE_ENV === 'production',
  }).key;
  const targetMasterKey = env.CRM_TARGET_DATA_KEY ? parseMasterKey(env.CRM_TARGET_DATA_KEY, 'CRM_TARGET_DATA_KEY') : sourceMasterKey;
  const sourceKeys = await openKeyStore(keyLocation(from, env, values['from-keys'], values['from-schema']), { key: sourceMasterKey });
  const targetKeys = await openKeyStore(keyLocation(to, env, values['to-keys'], values['to-schema']), { key: targetMasterKey }).catch(
    async (error: unknown) => {
      await sourceKeys.db.close();
      throw error;
    },
  );
  const source = await openEventStore(from);
  try {
    const target = await openEventStore(to);
    try {
      let lastReport = 0;
      const result = await migrateEvents(source, target, {
        keys: { source: sourceKeys, target: targetKeys },
        onProgress(progress) {
          if (Date.now() - lastReport < 1000) return;
          lastReport = Date.now();
          process.stderr.write(`copied ${progress.copied}, already there ${progress.skipped}\n`);
        },
      });
      console.log(
        `Copied ${result.copied} events from ${source.name} to ${target.name}` +
          (result.skipped > 0 ? ` (${result.skipped} were already there)` : '') +
          '. Rebuild the read models against the new store: start the API on an empty read database.',
      );
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
    await Promise.all([sourceKeys.db.close(), targetKeys.db.close()]);
  }
};

/** Where a side keeps its keys: beside its events, or where --*-keys (or, for EventStoreDB, the server's read store) says. */
export const keyLocation = (
  store: EventStoreConfig,
  env: NodeJS.ProcessEnv,
  location: string | undefined,
  schema: string | undefined,
): ReadStoreConfig => {
  const pgSchema = schema ?? (env.CRM_PG_SCHEMA || 'public');
  if (location) {
    return /^postgres(ql)?:/.test(location)
      ? { kind: 'postgres', connectionString: location, schema: pgSchema }
      : { kind: 'sqlite', filename: path.resolve(location) };
  }
  if (store.kind === 'sqlite') return { kind: 'sqlite', filename: store.filename };
  if (store.kind === 'postgres') return { kind: 'postgres', connectionString: store.connectionString, schema: store.schema ?? 'public' };
  return env.CRM_READ_STORE === 'postgres'
    ? { kind: 'postgres', connectionString: required(env, 'DATABASE_URL', 'eventstoredb'), schema: pgSchema }
    : { kind: 'sqlite', filename: path.resolve(env.CRM_DATA_DIR || 'data', DATABASE_FILE) };
};

if (require.main === module) {
  main(process.argv.slice(2), process.env).catch((error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    const misused = error instanceof UsageError || (error instanceof ConfigurationError && error.variable.startsWith('--'));
    process.stderr.write(`migrate-events: ${message}\n${misused ? `\n${USAGE}\n` : ''}`);
    process.exitCode = misused ? 2 : 1;
  });
}
