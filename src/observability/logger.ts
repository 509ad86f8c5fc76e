/**
 * The process's structured log (pino): one JSON object per line in production, readable lines
 * (pino-pretty) elsewhere. Nothing here ever receives a token, a variable or a request body:
 * callers pass the fields they mean to log, and `redact` is a second guard for the usual names.
 */
import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

import type { LogLevel } from './logLevels';

export interface LoggerOptions {
  level: LogLevel;
  /** JSON lines (production) or pino-pretty (development). */
  json: boolean;
  /** Where lines go; stdout by default. Tests pass a stream to read them back. */
  destination?: DestinationStream;
}

/** Fields never written as they are, wherever a line has them. */
const SECRET_FIELDS = ['authorization', 'token', 'variables', 'password'];
const CENSOR = '[redacted]';
const REDACTED = [
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((field) => `*.${field}`),
  'req.headers.authorization',
  'req.headers.cookie',
];

export const createLogger = ({ level, json, destination }: LoggerOptions): Logger => {
  const options = {
    level,
    base: { service: 'crm' },
    redact: { paths: REDACTED, censor: CENSOR },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (destination) return pino(options, destination);
  // Synchronous writes to stdout: nothing is lost when the process exits right after a line.
  if (json) return pino(options);
  // Required here, not imported: production never loads it (nor bundles it, see scripts/bundle.mjs).
  const pretty = require('pino-pretty') as typeof import('pino-pretty');
  return pino(options, pretty({ colorize: process.stdout.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', sync: true }));
};

/**
 * A child for lines whose fields are all strings, numbers, booleans or null, such as the line of
 * each GraphQL request. A member path (`*.token`) can never match on such a line, yet pino tries
 * every one on every field of every line, parsing each path again: under `npm run bench`'s
 * captures, the request line's redaction made about 6 % of the bytes the API's main thread
 * allocated, and the line took 4.3 µs against 1.3 with this child (`npm run
 * bench:flat-log-lines`). This child keeps the top-level fields' redaction only, so a secret
 * given such a field is still censored.
 */
export const childForFlatLines = (logger: Logger, bindings: Record<string, string>): Logger =>
  logger.child(bindings, { redact: { paths: SECRET_FIELDS, censor: CENSOR } });

/**
 * The `Pick<Console, 'log' | 'error'>` the projection runner, the lease and the read models write
 * their messages to, as log lines of one component; an Error among the arguments becomes `err`.
 */
export const consoleFor = (logger: Logger, component: string): Pick<Console, 'log' | 'error'> => {
  const child = logger.child({ component });
  const write = (level: 'info' | 'error') => (message?: unknown, ...rest: unknown[]) => {
    const err = rest.find((value): value is Error => value instanceof Error);
    const text = typeof message === 'string' ? message : String(message);
    if (err) child[level]({ err }, text);
    else child[level](text);
  };
  return { log: write('info'), error: write('error') };
};
