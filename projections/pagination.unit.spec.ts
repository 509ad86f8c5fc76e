/** Where a page is read (`pageDatabase`): on its own connection only when an index serves its conditions in its order. */
import { describe, expect, it } from 'vitest';
import { givenFields, pageDatabase } from './pagination';
import { uncachedReports } from './reportCache';
import type { SqlDatabase } from './sqlDatabase';

const main = { dialect: 'sqlite' } as SqlDatabase;
const reports = uncachedReports({ dialect: 'sqlite' } as SqlDatabase);
const SERVED = [[], ['status'], ['owner_id'], ['status', 'owner_id']];

describe('where a page is read', () => {
  it('on its own connection when an index serves exactly its conditions, in any order', () => {
    for (const given of [[], ['status'], ['owner_id'], ['owner_id', 'status']]) expect(pageDatabase(main, reports, given, SERVED)).toBe(main);
  });

  it('where reports are read when a condition is not served, alone or beside served ones', () => {
    for (const given of [['campaign'], ['status', 'campaign'], ['status', 'owner_id', 'source'], ['search']]) {
      expect(pageDatabase(main, reports, given, SERVED)).toBe(reports.db);
    }
    // Served by score with no condition only.
    expect(pageDatabase(main, reports, ['status'], [[]])).toBe(reports.db);
  });

  it('on its own connection by key, whatever else is asked, and always without reports to go to', () => {
    expect(pageDatabase(main, reports, ['id', 'campaign'], SERVED)).toBe(main);
    expect(pageDatabase(main, undefined, ['campaign'], SERVED)).toBe(main);
  });

  it("takes a filter's fields that hold a value, null and undefined left out", () => {
    expect(givenFields({ status: 'NEW', ownerId: undefined, campaign: null, minScore: 0, search: '' })).toEqual(['status', 'minScore', 'search']);
  });
});
