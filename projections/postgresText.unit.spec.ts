import { describe, expect, it } from 'vitest';
import { decodeText, encodeText } from './postgresDatabase';
import { isInfrastructureError } from '../src/core/storeErrors';

describe('encodeText / decodeText (U+0000 in PostgreSQL text)', () => {
  it('leaves every string without U+0000 or U+FFFF as it is', () => {
    for (const text of ['', 'plain', 'Café Crème GmbH', '%a\\_b%', 'line\nbreak', '\u0001\u001f', '😀 Ångström', 'x'.repeat(10_000)]) {
      expect(encodeText(text)).toBe(text);
      expect(decodeText(text)).toBe(text);
    }
  });

  it('stores no U+0000 and gives back exactly what it was given', () => {
    const texts = ['a\u0000b', '\u0000', '\u0000\u0000', 'end\u0000', '\uFFFF', 'a\uFFFF0b', '\uFFFF\u0000', '\u0000\uFFFF0', '\uFFFF\uFFFF\u0000'];
    for (const text of texts) {
      const stored = encodeText(text);
      expect(stored).not.toContain('\u0000');
      expect(decodeText(stored)).toBe(text);
    }
    // Different strings stay different once stored, so equality and uniqueness hold.
    expect(new Set(texts.map(encodeText)).size).toBe(texts.length);
  });

  it('keeps a search pattern matching: the escaped term is a substring of the escaped text', () => {
    expect(encodeText('xx a\u0000b yy')).toContain(encodeText('a\u0000b'));
  });
});

describe('isInfrastructureError', () => {
  it("tells the database's own trouble from an event the projection cannot apply", () => {
    const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });
    expect(isInfrastructureError(withCode('57P01', 'terminating connection due to administrator command'))).toBe(true);
    expect(isInfrastructureError(withCode('08006'))).toBe(true);
    expect(isInfrastructureError(withCode('40P01'))).toBe(true);
    expect(isInfrastructureError(withCode('SQLITE_BUSY'))).toBe(true);
    expect(isInfrastructureError(withCode('ECONNRESET'))).toBe(true);
    expect(isInfrastructureError(new Error('Connection terminated unexpectedly'))).toBe(true);

    expect(isInfrastructureError(withCode('22021', 'invalid byte sequence for encoding "UTF8": 0x00'))).toBe(false);
    expect(isInfrastructureError(withCode('23505', 'duplicate key value violates unique constraint'))).toBe(false);
    expect(isInfrastructureError(withCode('54000', 'index row size exceeds maximum'))).toBe(false);
    expect(isInfrastructureError(withCode('SQLITE_CONSTRAINT_PRIMARYKEY'))).toBe(false);
    expect(isInfrastructureError(new TypeError("Cannot read properties of undefined (reading 'name')"))).toBe(false);
    expect(isInfrastructureError('not an error')).toBe(false);
  });
});
