/**
 * `npm run bench:import [-- --against <git ref>] [--rounds N]`: the bulk import's throughput in
 * leads per second, by the command an operator runs (`npm run import -- leads.csv`), on SQLite and
 * on PostgreSQL (issue 13's goal: at least 2,000 leads/s on SQLite).
 *
 * It exists apart from bench/notifications.ts (which imports too, once, as an afterthought) because
 * an import's figure needs its own conditions: a file big enough that the rate is not the process
 * start's (BENCH_IMPORT_ROWS, 20,000 rows by default), a fresh store per run, the run of the same
 * file again (every row already imported: the idempotency check's own cost), and, with --against,
 * another tree (a git worktree of the ref, sharing node_modules) measured in the same run,
 * alternating which goes first round by round, so that a shared machine's load weighs on both.
 *
 * With --simultaneous the two trees run at the same time instead, each on its own store: on a
 * machine whose load swings within minutes (other work sharing its two cores), rates measured
 * minutes apart differ by more than the change measured, while two imports running side by side
 * meet the same load; their ratio is then the figure to trust (each rate is about half what it
 * would be alone).
 *
 * Per run it prints the import's own rate (the CLI's summary line: from its start to its last
 * answer, the read models included, process start excluded), the rate with the process start,
 * the CPU seconds of the importing process (user + system, from /usr/bin/time when present:
 * steadier than wall time on a busy machine), how many leads were scored by then (none since the
 * import leaves scoring to the server; a tree whose import ran the lead scorer scored some), and,
 * for a tree that has bench/scoreImported.ts, how long the server's lead scorer then takes to
 * score what was imported. Then the medians per
 * tree and store and, with --against, the ratios this tree / ref (of the medians, and the median
 * of the ratios within a round). BENCH_IMPORT_STORES picks the stores (sqlite,postgres);
 * PostgreSQL is DATABASE_URL's (default the test database), in a fresh schema per run, dropped
 * after.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';

const execFileAsync = promisify(execFile);
const here = path.resolve(__dirname, '..');
const TIME = '/usr/bin/time';

interface Measure {
  /** The CLI's own rate: rows over its own elapsed time (read models caught up, process start excluded). */
  rowsPerSec: number;
  /** Rows over the whole process's wall time. */
  withStartPerSec: number;
  /** User + system CPU seconds of the importing process (NaN without /usr/bin/time). */
  cpuSec: number;
  summary: string;
  /** Leads the lead scorer (which follows the log in the importing process) scored before the process ended. */
  scored?: number;
  /** Then the server's lead scorer (bench/scoreImported.ts, where the tree has it): seconds to catch up, and leads scored by then. */
  serverScoring?: { seconds: number; scored: number };
}

const median = (values: number[]) => {
  const sorted = values.filter((value) => !Number.isNaN(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

const writeCsv = (file: string, rows: number) => {
  // The shape bench/notifications.ts imports: a person, an e-mail, one of 500 companies.
  const lines = ['First name,Last name,Email,Company,Source'];
  for (let n = 0; n < rows; n++) lines.push(`Name${n},Surname${n},person${n}@example.com,Company ${n % 500},TRADE_FAIR`);
  writeFileSync(file, `${lines.join('\n')}\n`);
};

/** One `npm run import` of `file` by the tree at `tree`, with this store environment. */
const importOnce = async (tree: string, file: string, env: NodeJS.ProcessEnv): Promise<Measure> => {
  const timeFile = path.join(path.dirname(file), `time-${randomBytes(4).toString('hex')}`);
  const command = [process.execPath, '--import', 'tsx', path.join(tree, 'src', 'cli', 'importLeads.ts'), file];
  const timed = existsSync(TIME) ? [TIME, '-f', '%U %S', '-o', timeFile, ...command] : command;
  const started = performance.now();
  const { stderr } = await execFileAsync(timed[0]!, timed.slice(1), { cwd: tree, env, maxBuffer: 64 * 1024 * 1024 });
  const wallSec = (performance.now() - started) / 1000;
  const summary = stderr.split(/[\r\n]/).filter((line) => / rows in /.test(line)).at(-1) ?? '';
  const parsed = /([\d,]+) rows in ([\d.]+) s/.exec(summary);
  if (!parsed) throw new Error(`no summary line in the import's output:\n${stderr}`);
  const rows = Number(parsed[1]!.replace(/,/g, ''));
  const cpuSec = existsSync(timeFile)
    ? readFileSync(timeFile, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number).reduce((a, b) => a + b, 0)
    : NaN;
  rmSync(timeFile, { force: true });
  return { rowsPerSec: rows / Number(parsed[2]), withStartPerSec: rows / wallSec, cpuSec, summary: summary.trim() };
};

/**
 * The leads with a score the lead scorer recorded. It follows the log in the background, in the
 * importing process too, and stops with it: an import that ends sooner leaves more leads for the
 * server's scorer to score when it next runs, which its rate does not show.
 */
const scoredLeads = async (env: NodeJS.ProcessEnv, admin: pg.Client, schema: string): Promise<number> => {
  const query = "SELECT count(DISTINCT stream_id) AS scored FROM events WHERE event_type = 'LeadRescored'";
  if (env.CRM_EVENT_STORE === 'postgres') {
    const { rows } = await admin.query<{ scored: string }>(query.replace('FROM events', `FROM ${schema}.events`));
    return Number(rows[0]!.scored);
  }
  const db = new Database(path.join(env.CRM_DATA_DIR!, 'crm.sqlite'), { readonly: true });
  try {
    return db.prepare<[], { scored: number }>(query).get()!.scored;
  } finally {
    db.close();
  }
};

async function main() {
  const { values } = parseArgs({ options: { against: { type: 'string' }, rounds: { type: 'string' }, simultaneous: { type: 'boolean' } } });
  const rows = Number(process.env.BENCH_IMPORT_ROWS ?? 20_000);
  const rounds = Number(values.rounds ?? (values.against ? 3 : 1));
  const stores = (process.env.BENCH_IMPORT_STORES ?? 'sqlite,postgres').split(',').map((store) => store.trim()) as ('sqlite' | 'postgres')[];
  const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const work = mkdtempSync(path.join(tmpdir(), 'crm-bench-import-'));
  const trees: { name: string; dir: string }[] = [{ name: 'this', dir: here }];
  if (values.against) {
    const base = path.join(work, 'base');
    await execFileAsync('git', ['-C', here, 'worktree', 'add', '--detach', base, values.against]);
    symlinkSync(path.join(here, 'node_modules'), path.join(base, 'node_modules'));
    trees.unshift({ name: values.against, dir: base });
  }
  const file = path.join(work, 'leads.csv');
  writeCsv(file, rows);
  const dataKey = randomBytes(32).toString('hex');
  const admin = new pg.Client({ connectionString: databaseUrl });
  if (stores.includes('postgres')) await admin.connect();

  // results[store][tree] = { first: Measure[], again: Measure[] }
  const results = new Map<string, { first: Measure[]; again: Measure[] }>();
  const slot = (store: string, tree: string) => results.get(`${store} ${tree}`) ?? results.set(`${store} ${tree}`, { first: [], again: [] }).get(`${store} ${tree}`)!;
  try {
    console.log(
      `bench import: ${rows.toLocaleString('en')} rows, ${rounds} round(s), stores ${stores.join(', ')}, trees ${trees.map((t) => t.name).join(' vs ')}` +
        (values.simultaneous ? ', the trees side by side' : ''),
    );
    for (let round = 1; round <= rounds; round++) {
      // Who goes first alternates: a machine warming up or slowing down within a round favours neither.
      const order = round % 2 ? trees : [...trees].reverse();
      for (const store of stores) {
        const runs = order.map((tree) => {
          const schema = `bench_import_${randomBytes(4).toString('hex')}`;
          const env: NodeJS.ProcessEnv = {
            ...process.env,
            NODE_ENV: 'production',
            CRM_DATA_DIR: mkdtempSync(path.join(work, 'data-')),
            CRM_DATA_KEY: dataKey,
            ...(store === 'postgres'
              ? { CRM_EVENT_STORE: 'postgres', CRM_READ_STORE: 'postgres', DATABASE_URL: databaseUrl, CRM_PG_SCHEMA: schema }
              : { CRM_EVENT_STORE: 'sqlite', CRM_READ_STORE: 'sqlite' }),
          };
          return { tree, schema, env, first: undefined as Measure | undefined, again: undefined as Measure | undefined };
        });
        // The file, then the same file again; side by side, both trees' imports of a phase together.
        const phase = async (measure: (run: (typeof runs)[number]) => Promise<void>) => {
          if (!values.simultaneous) {
            for (const run of runs) await measure(run);
            return;
          }
          // Every import ended before its schema is dropped, whichever failed.
          const failed = (await Promise.allSettled(runs.map(measure))).find((outcome) => outcome.status === 'rejected');
          if (failed) throw failed.reason;
        };
        try {
          await phase(async (run) => {
            run.first = await importOnce(run.tree.dir, file, run.env);
            run.first.scored = await scoredLeads(run.env, admin, run.schema);
            const script = path.join(run.tree.dir, 'bench', 'scoreImported.ts');
            if (existsSync(script)) {
              const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', script], { cwd: run.tree.dir, env: run.env, maxBuffer: 16 * 1024 * 1024 });
              const { seconds } = JSON.parse(stdout.trim().split('\n').at(-1)!) as { seconds: number };
              run.first.serverScoring = { seconds, scored: await scoredLeads(run.env, admin, run.schema) };
            }
          });
          await phase(async (run) => {
            run.again = await importOnce(run.tree.dir, file, run.env);
          });
          for (const { tree, first, again } of runs) {
            slot(store, tree.name).first.push(first!);
            slot(store, tree.name).again.push(again!);
            console.log(
              `round ${round} ${store.padEnd(8)} ${tree.name.padEnd(10)} import ${first!.rowsPerSec.toFixed(0)} leads/s ` +
                `(${first!.withStartPerSec.toFixed(0)} with process start, ${first!.cpuSec.toFixed(1)} s CPU); ` +
                `again ${again!.rowsPerSec.toFixed(0)} rows/s (${again!.cpuSec.toFixed(1)} s CPU); ` +
                `${first!.scored} leads scored by the end of the import` +
                (first!.serverScoring
                  ? `, then by the server's scorer ${first!.serverScoring.scored} in ${first!.serverScoring.seconds.toFixed(1)} s (from its start)`
                  : '') +
                ` | ${first!.summary}`,
            );
          }
        } finally {
          for (const { env, schema } of runs) {
            rmSync(env.CRM_DATA_DIR!, { recursive: true, force: true });
            if (store === 'postgres') await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
          }
        }
      }
    }
    for (const store of stores) {
      const line = (tree: string) => {
        const { first, again } = slot(store, tree);
        return {
          rate: median(first.map((m) => m.rowsPerSec)),
          withStart: median(first.map((m) => m.withStartPerSec)),
          cpu: median(first.map((m) => m.cpuSec)),
          again: median(again.map((m) => m.rowsPerSec)),
        };
      };
      for (const tree of trees) {
        const m = line(tree.name);
        console.log(
          `median ${store.padEnd(8)} ${tree.name.padEnd(10)} import ${m.rate.toFixed(0)} leads/s (${m.withStart.toFixed(0)} with process start, ` +
            `${m.cpu.toFixed(1)} s CPU), again ${m.again.toFixed(0)} rows/s`,
        );
      }
      if (trees.length === 2) {
        const [base, mine] = trees.map((tree) => slot(store, tree.name));
        const roundRatios = (pick: (m: Measure) => number, which: 'first' | 'again') =>
          median(mine![which].map((m, i) => pick(m) / pick(base![which][i]!))).toFixed(2);
        const b = line(trees[0]!.name);
        const t = line('this');
        console.log(
          `ratio  ${store.padEnd(8)} this / ${trees[0]!.name}: import leads/s ${(t.rate / b.rate).toFixed(2)} (median of round ratios ${roundRatios((m) => m.rowsPerSec, 'first')}), ` +
            `with process start ${(t.withStart / b.withStart).toFixed(2)}, CPU seconds ${(t.cpu / b.cpu).toFixed(2)} ` +
            `(${roundRatios((m) => m.cpuSec, 'first')}), again ${(t.again / b.again).toFixed(2)} (${roundRatios((m) => m.rowsPerSec, 'again')})`,
        );
      }
    }
  } finally {
    if (stores.includes('postgres')) await admin.end();
    if (values.against) await execFileAsync('git', ['-C', here, 'worktree', 'remove', '--force', path.join(work, 'base')]).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
