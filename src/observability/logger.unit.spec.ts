/**
 * The process log's guard against secrets: a field named as one (`token`, `authorization`,
 * `variables`, `password`) is censored, at the top of a line or one level down, and a child for
 * flat lines (the request line) writes what the usual child would.
 */
import { describe, expect, it } from 'vitest';
import { childForFlatLines, createLogger } from './logger';

const SECRET = 'eyJhbGciOiJIUzI1NiJ9.secret-part';

const capture = () => {
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', json: true, destination: { write: (line: string) => void lines.push(line) } });
  return { logger, lines, parsed: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
};

describe('the process log', () => {
  it('censors a secret field at the top of a line and one level down', () => {
    const { logger, lines, parsed } = capture();
    logger.child({ component: 'test' }).info({ token: SECRET, request: { authorization: `Bearer ${SECRET}`, variables: { email: 'ana@x.example' } } }, 'asked');
    expect(lines.join('')).not.toContain('secret-part');
    expect(lines.join('')).not.toContain('ana@x.example');
    expect(parsed()[0]).toMatchObject({ token: '[redacted]', request: { authorization: '[redacted]', variables: '[redacted]' } });
  });

  it("censors a request's authorization header and cookie", () => {
    const { logger, lines } = capture();
    logger.info({ req: { method: 'POST', headers: { authorization: `Bearer ${SECRET}`, cookie: `session=${SECRET}` } } }, 'asked');
    expect(lines.join('')).not.toContain('secret-part');
  });

  it('a child for flat lines writes what the usual child writes, apart from the time', () => {
    const { logger, parsed } = capture();
    const fields = { operation: 'captureLead', operationType: 'mutation', actor: 'rep-1', correlationId: 'c-1', durationMs: 1.5, result: 'OK', status: 200, empty: null, ok: true };
    logger.child({ component: 'graphql' }).info(fields, 'graphql request');
    childForFlatLines(logger, { component: 'graphql' }).info(fields, 'graphql request');
    const [usual, flat] = parsed().map(({ time: _time, ...rest }) => rest);
    expect(flat).toEqual(usual);
    expect(flat).toMatchObject({ component: 'graphql', operation: 'captureLead', status: 200, msg: 'graphql request' });
  });

  it('a child for flat lines still censors a secret given a field of its own', () => {
    const { logger, lines, parsed } = capture();
    const flat = childForFlatLines(logger, { component: 'graphql' });
    flat.info({ operation: 'login', token: SECRET, authorization: SECRET, variables: SECRET, password: SECRET }, 'graphql request');
    expect(lines.join('')).not.toContain('secret-part');
    expect(parsed()[0]).toMatchObject({ operation: 'login', token: '[redacted]', authorization: '[redacted]', variables: '[redacted]', password: '[redacted]' });
  });
});
