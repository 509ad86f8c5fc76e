import { describe, expect, it } from 'vitest';
import { toNumberedParameters } from './postgresDatabase';

describe('toNumberedParameters', () => {
  it('numbers the placeholders in order', () => {
    expect(toNumberedParameters('UPDATE t SET a = ?, b = ? WHERE id = ? LIMIT ?')).toBe(
      'UPDATE t SET a = $1, b = $2 WHERE id = $3 LIMIT $4',
    );
  });

  it('leaves a question mark inside a string literal, even one with a doubled quote', () => {
    expect(toNumberedParameters(`SELECT 'why?', 'it''s ?' FROM t WHERE a = ?`)).toBe(
      `SELECT 'why?', 'it''s ?' FROM t WHERE a = $1`,
    );
  });

  it("reads '\\' as a whole literal, as the projections' LIKE ... ESCAPE '\\' does", () => {
    expect(toNumberedParameters(`search LIKE ? ESCAPE '\\' AND owner = ?`)).toBe(
      `search LIKE $1 ESCAPE '\\' AND owner = $2`,
    );
  });

  it('honours backslash escapes in E strings only', () => {
    expect(toNumberedParameters(`SELECT E'\\'?', ?`)).toBe(`SELECT E'\\'?', $1`);
  });

  it('leaves quoted identifiers, comments and dollar quotes alone', () => {
    const sql = [
      'SELECT "odd?name", ? -- what?',
      '/* outer ? /* nested ? */ still ? */ $$ body ? $$, $fn$ ? $fn$, ?',
    ].join('\n');

    expect(toNumberedParameters(sql)).toBe(
      [
        'SELECT "odd?name", $1 -- what?',
        '/* outer ? /* nested ? */ still ? */ $$ body ? $$, $fn$ ? $fn$, $2',
      ].join('\n'),
    );
  });
});
