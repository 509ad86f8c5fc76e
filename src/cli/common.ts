/**
 * What the operator commands (`npm run seed`, `export`, `replay`, `verify`) share: reading their
 * options, the configuration the server would use, a one-line progress display, and exit codes
 * (0 done, 1 failed or found a problem, 2 wrong usage).
 */
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigurationError, loadConfig, type CrmConfig } from '../composition/config';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses `argv` strictly; `--data-dir` and `--help` are always accepted. */
export const parseOptions = <T extends Options>(argv: string[], options: T) => {
  try {
    return parseArgs({
      args: argv,
      options: { ...options, 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
};

/** As `parseOptions`, with one positional argument: the subject of the command (an id). */
export const parseOptionsWithSubject = <T extends Options>(argv: string[], options: T) => {
  try {
    const parsed = parseArgs({
      args: argv,
      options: { ...options, 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: true,
    });
    if (parsed.positionals.length > 1) throw new Error(`one id at a time; got ${parsed.positionals.join(' ')}`);
    return { values: parsed.values, subject: parsed.positionals[0] };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
};

/** The server's configuration (stores included) for this data directory, or CRM_DATA_DIR's. */
export const configFor = (dataDir: string | undefined, env: NodeJS.ProcessEnv = process.env): CrmConfig =>
  loadConfig(env, { dataDir: dataDir === undefined ? undefined : path.resolve(dataDir) });

export const wholeNumber = (name: string, text: string | undefined, fallback?: number): number => {
  if (text === undefined) {
    if (fallback === undefined) throw new UsageError(`--${name} is required`);
    return fallback;
  }
  if (!/^-?\d+$/.test(text)) throw new UsageError(`--${name} must be a whole number, got ${JSON.stringify(text)}`);
  return Number(text);
};

/**
 * Runs a command's main, prints its failure in one line, and sets the exit code.
 *
 * The process is held alive until main settles. Node exits, with code 0, as soon as nothing ref'd
 * is left, even while main still waits; and main may wait on a handle that is rightly unref'd (a
 * thread the store keeps for later, an unref'd timer). Without the hold, a command could end
 * "successfully" with its work and its error unreported.
 */
export const runCli = (usage: string, main: () => Promise<number | void>): void => {
  const held = setInterval(() => undefined, 2 ** 30);
  main()
    .finally(() => clearInterval(held))
    .then(
      (code) => {
        process.exitCode = code ?? 0;
      },
      (error: unknown) => {
        if (error instanceof UsageError) {
          process.stderr.write(`${error.message}\n\n${usage}\n`);
          process.exitCode = 2;
        } else {
          const message = error instanceof ConfigurationError || !(error instanceof Error) ? String(error) : error.stack;
          process.stderr.write(`${message}\n`);
          process.exitCode = 1;
        }
      },
    );
};

/** A status line rewritten in place (`\r`), at most a few times a second. */
export class ProgressLine {
  private lastDrawn = 0;
  private width = 0;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly intervalMs = 200,
  ) {}

  update(text: string, force = false): void {
    const now = Date.now();
    if (!force && now - this.lastDrawn < this.intervalMs) return;
    this.lastDrawn = now;
    this.stream.write(`\r${text.padEnd(this.width)}`);
    this.width = text.length;
  }

  /**
   * Writes `text` on a line of its own, over the progress drawn so far, which the next update
   * draws again below it: a message written straight to the stream would run on from the end of
   * the progress line.
   */
  note(text: string): void {
    this.stream.write(`\r${text.padEnd(this.width)}\n`);
    this.width = 0;
    this.lastDrawn = 0;
  }

  /** Leaves the last state on screen and moves to a new line. */
  done(text: string): void {
    this.update(text, true);
    this.stream.write('\n');
    this.width = 0;
  }
}

export const formatCount = (n: number): string => n.toLocaleString('en-US');

export const perSecond = (count: number, elapsedMs: number): string =>
  formatCount(Math.round(count / Math.max(elapsedMs / 1000, 0.001)));
