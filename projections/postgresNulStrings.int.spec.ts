/**
 * PostgreSQL `text` cannot hold U+0000, yet an event can carry it (the log keeps JSON, which
 * escapes it). The read models must take such an event like any other and give the string
 * back as it was; strings without it must be stored exactly as before.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { readModelProjections } from '../src/composition/application';
import { openPostgresEventStore } from '../src/eventStores/postgres';
import type { LeadEvent } from '../src/domain/leads/lead';
import { appendLeadEvent } from '../test/support/leadEvents';
import { aSchemaName, connectForTest, dropSchemas, TEST_DATABASE_URL } from '../test/support/postgres';
import { findLeads } from './leads/leadsQueries';
import { getLead } from './leads/leadView';
import { openPostgresDatabase } from './postgresDatabase';
import { ProjectionRunner } from './runner';

const schemas: string[] = [];
afterAll(() => dropSchemas(...schemas));

const NUL = '\u0000';

describe('U+0000 in PostgreSQL read models', () => {
  it('projects an event carrying U+0000 through every projection, and reads it back as it was', async () => {
    const schema = aSchemaName('nul');
    schemas.push(schema);
    const store = await openPostgresEventStore({ connectionString: TEST_DATABASE_URL, schema, pollIntervalMs: 20 });
    const db = await openPostgresDatabase({ connectionString: TEST_DATABASE_URL, schema });
    const errors: unknown[] = [];
    const runner = new ProjectionRunner({ store, db, projections: readModelProjections(), logger: { error: (...args) => errors.push(args) } });
    try {
      await runner.start();
      await runner.whenCaughtUp();

      const captured = (leadId: string, campaign: string, company: string, lastName: string): LeadEvent => ({
        type: 'LeadCaptured',
        data: { leadId, source: 'OTHER', campaign, person: { lastName, email: `${leadId}@example.com` }, company: { name: company } },
      });
      // Straight into the log, as data written before any input validation would be.
      await appendLeadEvent(store, captured('lead-nul', `a${NUL}b`, `Nul${NUL} Co`, `Pu${NUL}ig`), {
        occurredAt: '2025-01-02T10:00:00.000Z',
      });
      await appendLeadEvent(store, captured('lead-odd', 'odd\uFFFF', 'Odd Co', 'Odd'), { occurredAt: '2025-01-02T11:00:00.000Z' });
      const { position } = await appendLeadEvent(store, captured('lead-plain', 'plain', 'Plain Co', 'Plain'), {
        occurredAt: '2025-01-02T12:00:00.000Z',
      });
      await appendLeadEvent(store, {
        type: 'LeadContactLogged',
        data: { leadId: 'lead-nul', channel: 'CALL', outcome: 'REACHED', notes: `called${NUL}` },
      } as LeadEvent);

      // Every projection keeps up: none is set aside, none stops the runner.
      expect(await runner.waitForPosition(position)).toEqual([]);
      const head = (await store.headPosition())!;
      expect(await runner.waitForPosition(head)).toEqual([]);
      expect(runner.failures).toEqual([]);
      expect(runner.lastError).toBeUndefined();
      expect(errors).toEqual([]);

      const lead = await getLead(db, 'lead-nul');
      expect(lead).toMatchObject({ campaign: `a${NUL}b`, company: { name: `Nul${NUL} Co` }, revision: 1, status: 'CONTACTED' });
      expect(lead?.person?.lastName).toBe(`Pu${NUL}ig`);
      expect((await getLead(db, 'lead-odd'))?.campaign).toBe('odd\uFFFF');

      // Equality filters and searches find them, and the plain one as before.
      const ids = async (filter: Parameters<typeof findLeads>[1]) => (await findLeads(db, filter)).nodes.map((node) => node.id);
      expect(await ids({ filter: { campaign: `a${NUL}b` } })).toEqual(['lead-nul']);
      expect(await ids({ filter: { campaign: 'a' } })).toEqual([]);
      expect(await ids({ filter: { campaign: 'odd\uFFFF' } })).toEqual(['lead-odd']);
      expect(await ids({ filter: { campaign: 'plain' } })).toEqual(['lead-plain']);
      expect(await ids({ filter: { search: 'plain co' } })).toEqual(['lead-plain']);
      expect(await ids({ filter: { search: 'nul' } })).toEqual(['lead-nul']);
      expect(await ids({})).toEqual(['lead-plain', 'lead-odd', 'lead-nul']);

      // What PostgreSQL holds: plain strings untouched, the others escaped, no U+0000 anywhere.
      const client = await connectForTest();
      try {
        const { rows } = await client.query<{ id: string; campaign: string }>(
          `SELECT id, campaign FROM ${pg.escapeIdentifier(schema)}.read_leads ORDER BY id`,
        );
        expect(rows).toEqual([
          { id: 'lead-nul', campaign: 'a\uFFFF0b' },
          { id: 'lead-odd', campaign: 'odd\uFFFF\uFFFF' },
          { id: 'lead-plain', campaign: 'plain' },
        ]);
        const kpi = await client.query<{ campaign: string }>(
          `SELECT campaign FROM ${pg.escapeIdentifier(schema)}.kpi_lead_cycles WHERE lead_id = 'lead-nul'`,
        );
        expect(kpi.rows).toEqual([{ campaign: 'a\uFFFF0b' }]);
      } finally {
        await client.end();
      }
    } finally {
      await runner.stop();
      await db.close();
      await store.close();
    }
  });

  it('keeps equality, LIKE and ordering of plain strings as they were, and compares escaped ones exactly', async () => {
    const schema = aSchemaName('nul');
    schemas.push(schema);
    const db = await openPostgresDatabase({ connectionString: TEST_DATABASE_URL, schema });
    try {
      await db.exec('CREATE TABLE words (word TEXT PRIMARY KEY)');
      const words = ['b', 'a', 'ab', `a${NUL}`, `a${NUL}b`, `${NUL}`, 'A', 'a_b', 'a%b', '\uFFFF'];
      for (const word of words) await db.run('INSERT INTO words (word) VALUES (?)', [word]);

      const all = (sql: string, params: string[] = []) =>
        db.all<{ word: string }>(sql, params).then((rows) => rows.map((row) => row.word));
      expect((await all('SELECT word FROM words')).sort()).toEqual([...words].sort());
      expect(await all('SELECT word FROM words WHERE word = ?', [`a${NUL}b`])).toEqual([`a${NUL}b`]);
      expect(await all('SELECT word FROM words WHERE word = ?', [`a${NUL}`])).toEqual([`a${NUL}`]);
      // (Strings holding U+0000 sort by their escaped form: here "\u0000" after "a\u0000b".)
      expect((await all(`SELECT word FROM words WHERE word LIKE ? ESCAPE '\\'`, [`%${NUL}%`])).sort()).toEqual([
        NUL,
        `a${NUL}`,
        `a${NUL}b`,
      ]);
      expect(await all(`SELECT word FROM words WHERE word LIKE ? ESCAPE '\\' ORDER BY word`, ['a\\_%'])).toEqual(['a_b']);
      expect(await all(`SELECT word FROM words WHERE word LIKE ? ESCAPE '\\' ORDER BY word`, ['a%'])).toEqual([
        'a',
        'a%b',
        'a_b',
        'ab',
        `a${NUL}`,
        `a${NUL}b`,
      ]);
      // Plain strings sort as they always did (the database's collation; C here).
      const plain = await all(`SELECT word FROM words WHERE word NOT LIKE ? AND word NOT LIKE ? ORDER BY word`, [
        `%${NUL}%`,
        '%\uFFFF%',
      ]);
      expect(plain).toEqual(['A', 'a', 'a%b', 'a_b', 'ab', 'b']);
      // Functions of text give decoded text back too.
      expect(await db.get<{ joined: string }>(`SELECT string_agg(word, ',' ORDER BY word) AS joined FROM words WHERE word LIKE ?`, [`a${NUL}%`])).toEqual({
        joined: `a${NUL},a${NUL}b`,
      });
    } finally {
      await db.close();
    }
  });
});
