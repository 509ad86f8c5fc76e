import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadScoringRules } from '../../composition/configFiles';
import { DEFAULT_SCORING_RULES, parseScoringRules, rulesHash, ScoringRulesError } from './rules';

describe('scoring rules', () => {
  it('ships defaults that pass their own validation', () => {
    expect(parseScoringRules(DEFAULT_SCORING_RULES)).toEqual(DEFAULT_SCORING_RULES);
    expect(loadScoringRules()).toBe(DEFAULT_SCORING_RULES);
  });

  it('takes a number as version and drops what it does not know', () => {
    const rules = parseScoringRules({
      version: 3,
      comment: 'ignored',
      rules: [{ id: 'quotes', points: 10, count: { action: 'QUOTE_REQUESTED' }, colour: 'blue' }],
    });
    expect(rules).toEqual({ version: '3', rules: [{ id: 'quotes', points: 10, count: { action: 'QUOTE_REQUESTED' } }] });
  });

  it('reports every problem at once, each with where it is', () => {
    let message = '';
    try {
      parseScoringRules({
        version: '',
        rules: [
          { id: 'a', points: 1.5, when: { source: ['FAX'] } },
          { id: 'a', points: 5, when: { shoeSize: ['42'] } },
          { id: 'c', points: 5 },
          { id: 'd', points: 5, count: { action: 'CONTACT', outcomes: ['MAYBE'], max: 0 } },
        ],
      });
    } catch (error) {
      expect(error).toBeInstanceOf(ScoringRulesError);
      message = (error as Error).message;
    }
    expect(message).toContain('version must be');
    expect(message).toContain('rules[0].points must be a whole number');
    expect(message).toContain('rules[0].when.source: unknown FAX');
    expect(message).toContain('rules[1].id a appears twice');
    expect(message).toContain('rules[1].when.shoeSize is not a condition');
    expect(message).toContain('rules[2] must have either "when" (attributes) or "count" (actions)');
    expect(message).toContain('rules[3].count.max must be a whole number from 1 to 1000');
    expect(message).toContain('rules[3].count.outcomes: unknown MAYBE');
  });

  it('loads a file, naming it in any error', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'crm-scoring-'));
    try {
      const good = path.join(dir, 'good.json');
      writeFileSync(good, JSON.stringify({ version: 'q3', rules: [{ id: 'r', points: 1, when: { country: ['ES'] } }] }));
      expect(loadScoringRules(good).version).toBe('q3');
      const bad = path.join(dir, 'bad.json');
      writeFileSync(bad, '{ "version": "q3", ');
      expect(() => loadScoringRules(bad)).toThrow(`CRM_SCORING_FILE ${bad}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('hashes a definition independently of key order', () => {
    const a = parseScoringRules({ version: '1', rules: [{ id: 'r', points: 1, when: { source: ['REFERRAL'] } }] });
    const b = parseScoringRules({ rules: [{ when: { source: ['REFERRAL'] }, points: 1, id: 'r' }], version: '1' });
    expect(rulesHash(a)).toBe(rulesHash(b));
    expect(rulesHash(a)).not.toBe(rulesHash({ ...a, rules: [{ ...a.rules[0]!, points: 2 }] }));
  });
});
