import { v5 as uuidv5 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { CRM_NAMESPACE, deterministicId } from './ids';

describe('deterministicId', () => {
  it('derives the name-based UUID (version 5) every stored id was made with', () => {
    const names: Array<Array<string | number>> = [
      ['seed', 42, 'lead', 0],
      ['lead-conversion', 'a1b2', 1, 'account'],
      ['5b4f3d1e-6a0c-4c39-9f0e-2f3b7b8f6a11', 0],
      ['Girona, Catalunya: àèìòù ñ ç', 'emoji 🦊', ''],
      [],
      // Past the reused buffer's room (the path of one Hash object), and then short again.
      ['long', 'x'.repeat(5000)],
      ['wide', '€'.repeat(683)],
      ['wide', '€'.repeat(682)],
      ['short'],
      ...Array.from({ length: 200 }, (_, index) => [`command-${index * 7919}`, index, 'x'.repeat(index % 50)]),
    ];
    for (const parts of names) {
      expect(deterministicId(...parts)).toBe(uuidv5(parts.map(String).join('\u001f'), CRM_NAMESPACE));
    }
    expect(deterministicId('seed', 42, 'lead', 0)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
