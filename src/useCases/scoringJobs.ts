/**
 * Re-scoring every open lead (after a rules change, or when an admin asks) as a background job:
 * the request records the job and answers at once; the instance that runs the projections (the
 * lease holder) works through the open leads, a page at a time, and records the progress. The
 * job's state lives in the read database (`scoring_jobs`), where every instance sharing it can
 * read it; it is bookkeeping, not a fact of the business, so it is no event: the scores are.
 *
 * A job whose process died stays RUNNING in the table and is taken up again, from the last page
 * it recorded, by the next instance to run the projections (the same one at its next start, or
 * another one taking over the lease). Every lead it scores is scored by its own idempotent
 * command (`rescoreLead`, caused by the job), so the page redone writes nothing twice and counts
 * each lead once.
 */
import type { EventStore, GlobalPosition } from '../core/eventStore';
import type { ScoringRules } from '../domain/scoring/rules';
import { countWorkableLeads, workableLeadIds } from '../../projections/leads/leadsQueries';
import type { ReadModelPositions } from '../../projections/readModelPositions';
import type { SqlDatabase } from '../../projections/sqlDatabase';
import { rescoreLead, type RescoreOutcome } from './rescoreLead';

export type ScoringJobStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED';

export interface ScoringJob {
  id: string;
  status: ScoringJobStatus;
  /** The rules the job scores with (the version in use when it was started). */
  rulesVersion: string;
  startedBy: string;
  /** The request that started it: every score it records carries it. */
  correlationId: string;
  startedAt: string;
  finishedAt: string | null;
  /** When the job last recorded progress. */
  updatedAt: string;
  /** Open leads when it started (leads captured meanwhile may be examined too). */
  total: number;
  examined: number;
  rescored: number;
  unchanged: number;
  skipped: number;
  /** Why it failed. */
  error: string | null;
}

const CREATE_TABLE = `
  CREATE TABLE IF NOT EXISTS scoring_jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    rules_version TEXT NOT NULL,
    started_by TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    updated_at TEXT NOT NULL,
    total INTEGER NOT NULL,
    examined INTEGER NOT NULL,
    rescored INTEGER NOT NULL,
    unchanged INTEGER NOT NULL,
    skipped INTEGER NOT NULL,
    last_lead_id TEXT,
    error TEXT
  );
  CREATE UNIQUE INDEX IF NOT EXISTS scoring_jobs_one_running_per_version ON scoring_jobs (rules_version) WHERE status = 'RUNNING';
  CREATE INDEX IF NOT EXISTS scoring_jobs_by_status ON scoring_jobs (status, started_at);`;

interface JobRow {
  id: string;
  status: ScoringJobStatus;
  rules_version: string;
  started_by: string;
  correlation_id: string;
  started_at: string;
  finished_at: string | null;
  updated_at: string;
  total: number;
  examined: number;
  rescored: number;
  unchanged: number;
  skipped: number;
  last_lead_id: string | null;
  error: string | null;
}

const toJob = (row: JobRow): ScoringJob => ({
  id: row.id,
  status: row.status,
  rulesVersion: row.rules_version,
  startedBy: row.started_by,
  correlationId: row.correlation_id,
  startedAt: row.started_at,
  finishedAt: row.finished_at,
  updatedAt: row.updated_at,
  total: Number(row.total),
  examined: Number(row.examined),
  rescored: Number(row.rescored),
  unchanged: Number(row.unchanged),
  skipped: Number(row.skipped),
  error: row.error,
});

/** Created by whichever side comes first (the runner at start, or a request); both may. */
const createdOn = new WeakMap<SqlDatabase, Promise<void>>();
const ensureJobTable = (db: SqlDatabase): Promise<void> => {
  let created = createdOn.get(db);
  if (created === undefined) {
    created = db.exec(CREATE_TABLE).catch(async (error: unknown) => {
      // Another instance created it at the same moment (PostgreSQL says so with an error).
      const exists = await db.all('SELECT id FROM scoring_jobs WHERE 1 = 0').then(() => true, () => false);
      if (!exists) {
        createdOn.delete(db);
        throw error;
      }
    });
    createdOn.set(db, created);
  }
  return created;
};

const getJobRow = async (db: SqlDatabase, id: string): Promise<JobRow | undefined> =>
  db.get<JobRow>('SELECT * FROM scoring_jobs WHERE id = ?', [id]);

/** The jobs as requests see them: started here, run by the projections' instance. */
export class ScoringJobs {
  constructor(
    private readonly db: SqlDatabase,
    /** Tells this instance's runner, if it runs one, that a job is waiting (others poll). */
    private readonly wakeRunner: () => void,
  ) {}

  /**
   * Records a job for the rules in use and answers it. A job already recorded under `id` (the same
   * idempotency key) is answered as it stands; so is a job still running for the same rules
   * version: there is never more than one at a time, and a second would find nothing to change.
   */
  async start(request: { id: string; rules: ScoringRules; startedBy: string; correlationId: string; now: Date }): Promise<ScoringJob> {
    await ensureJobTable(this.db);
    const existing = await getJobRow(this.db, request.id);
    if (existing) return toJob(existing);
    const now = request.now.toISOString();
    const total = await countWorkableLeads(this.db);
    await this.db.run(
      `INSERT INTO scoring_jobs (id, status, rules_version, started_by, correlation_id, started_at, updated_at,
         total, examined, rescored, unchanged, skipped)
       VALUES (?, 'RUNNING', ?, ?, ?, ?, ?, ?, 0, 0, 0, 0)
       ON CONFLICT DO NOTHING`,
      [request.id, request.rules.version, request.startedBy, request.correlationId, now, now, total],
    );
    const row =
      (await getJobRow(this.db, request.id)) ??
      (await this.db.get<JobRow>("SELECT * FROM scoring_jobs WHERE rules_version = ? AND status = 'RUNNING'", [request.rules.version]));
    if (!row) throw new Error(`Scoring job ${request.id} was neither recorded nor found running`);
    if (row.id === request.id) this.wakeRunner();
    return toJob(row);
  }

  async get(id: string): Promise<ScoringJob | undefined> {
    await ensureJobTable(this.db);
    const row = await getJobRow(this.db, id);
    return row && toJob(row);
  }

  /** Resolves once no job is running (for tools and tests that must see every score in). */
  async whenIdle(pollIntervalMs = 50): Promise<void> {
    await ensureJobTable(this.db);
    while ((await this.db.get("SELECT id FROM scoring_jobs WHERE status = 'RUNNING'")) !== undefined) {
      await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
    }
  }
}

export interface ScoringJobRunnerOptions {
  store: EventStore;
  /** The projections' connection to the read database. */
  db: SqlDatabase;
  /** The rules in use: a job started with others is not run (see `run`). */
  rules: ScoringRules;
  /** Each page's scores are in the read models before its progress is recorded. */
  readModels: ReadModelPositions;
  clock?: () => Date;
  /** How often it looks for jobs started on other instances. */
  pollIntervalMs?: number;
  /** Leads per page: progress is recorded after each. */
  pageSize?: number;
  logger?: Pick<Console, 'error'>;
}

const CONCURRENT_LEADS = 16;
const READ_MODEL_TIMEOUT_MS = 60_000;

/** Runs the jobs, oldest first, one at a time, on the instance that runs the projections. */
export class ScoringJobRunner {
  private stopped = true;
  private loop: Promise<void> = Promise.resolve();
  private wakeUp: (() => void) | undefined;
  private woken = false;

  constructor(private readonly options: ScoringJobRunnerOptions) {}

  async start(): Promise<void> {
    await ensureJobTable(this.options.db);
    this.stopped = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.loop;
  }

  /** A job was just started on this instance: run it now rather than at the next poll. */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  private async run(): Promise<void> {
    const { db } = this.options;
    while (!this.stopped) {
      this.woken = false;
      try {
        const row = await db.get<JobRow>("SELECT * FROM scoring_jobs WHERE status = 'RUNNING' ORDER BY started_at, id LIMIT 1");
        if (row) {
          await this.runJob(row);
          continue;
        }
      } catch (error) {
        (this.options.logger ?? console).error(`Scoring jobs: ${String(error)}`);
      }
      if (!this.woken && !this.stopped) await this.sleep();
    }
  }

  private sleep(): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.options.pollIntervalMs ?? 1000);
      this.wakeUp = done;
      function done() {
        clearTimeout(timer);
        resolve();
      }
    }).then(() => {
      this.wakeUp = undefined;
    });
  }

  /**
   * Goes through the open leads after the last one the job recorded, by id. Stopped half-way (the
   * lease lost, the process closing), it records nothing more: the next runner redoes that page.
   */
  private async runJob(row: JobRow): Promise<void> {
    const { store, db, rules } = this.options;
    if (row.rules_version !== rules.version) {
      await this.finish(row.id, 'FAILED', `the scoring rules changed to version ${rules.version} while this job waited; start rescoreOpenLeads again`);
      return;
    }
    const counts = { examined: Number(row.examined), rescored: Number(row.rescored), unchanged: Number(row.unchanged), skipped: Number(row.skipped) };
    let after = row.last_lead_id ?? undefined;
    try {
      for (;;) {
        const ids = await workableLeadIds(db, { after, first: this.options.pageSize ?? 200 });
        if (ids.length === 0) break;
        let last: GlobalPosition | undefined;
        for (let index = 0; index < ids.length; index += CONCURRENT_LEADS) {
          const outcomes = await Promise.all(ids.slice(index, index + CONCURRENT_LEADS).map((leadId) => this.score(row, leadId)));
          if (this.stopped) return;
          for (const outcome of outcomes) {
            counts.examined++;
            counts[outcome.kind]++;
            if (outcome.position !== undefined && (last === undefined || store.comparePositions(outcome.position, last) > 0)) last = outcome.position;
          }
        }
        if (last !== undefined) await this.options.readModels.waitForPosition(last, READ_MODEL_TIMEOUT_MS);
        after = ids.at(-1);
        await db.run(
          `UPDATE scoring_jobs SET examined = ?, rescored = ?, unchanged = ?, skipped = ?, last_lead_id = ?, updated_at = ?
           WHERE id = ? AND status = 'RUNNING'`,
          [counts.examined, counts.rescored, counts.unchanged, counts.skipped, after ?? null, this.now().toISOString(), row.id],
        );
        if (this.stopped) return;
      }
      await this.finish(row.id, 'SUCCEEDED');
    } catch (error) {
      if (this.stopped) return;
      (this.options.logger ?? console).error(`Scoring job ${row.id} failed: ${String(error)}`);
      await this.finish(row.id, 'FAILED', error instanceof Error ? error.message : String(error));
    }
  }

  private score(row: JobRow, leadId: string): Promise<RescoreOutcome> {
    return rescoreLead(this.options.store, {
      leadId,
      reason: 'ALL_OPEN_LEADS',
      rules: this.options.rules,
      causationId: row.id,
      actor: row.started_by,
      correlationId: row.correlation_id,
      now: this.now(),
    });
  }

  private async finish(id: string, status: ScoringJobStatus, error?: string): Promise<void> {
    const now = this.now().toISOString();
    await this.options.db.run(
      `UPDATE scoring_jobs SET status = ?, finished_at = ?, updated_at = ?, error = ? WHERE id = ? AND status = 'RUNNING'`,
      [status, now, now, error ?? null, id],
    );
  }

  private now(): Date {
    return (this.options.clock ?? (() => new Date()))();
  }
}
