/**
 * In a bulk rebuild the leads fold in memory and are written when they leave it (see
 * `foldLeadsInMemory`). With room for only two leads, so that leads are written out and read
 * back again and again, the rows must be those `apply` writes event by event, erasures included.
 */
import { afterEach, expect, it } from 'vitest';
import { NO_STREAM } from '../../src/core/eventStore';
import { newId } from '../../src/core/ids';
import { personalDataStreamId } from '../../src/domain/personalData';
import { DEFAULT_SCORING_RULES } from '../../src/domain/scoring/rules';
import { rescoreLead } from '../../src/useCases/rescoreLead';
import { openSqliteEventStore } from '../../src/eventStores/sqlite';
import { appendAll, generateLeadHistory, temporaryDirectory } from '../../test/support/leadEvents';
import { applyAndFold } from '../../test/support/inMemoryFolds';
import type { SqlDatabase } from '../sqlDatabase';
import { foldLeadsInMemory, leadsProjection } from './leadsProjection';

const directories: Array<ReturnType<typeof temporaryDirectory>> = [];
afterEach(() => {
  for (const directory of directories.splice(0)) directory.remove();
});

const readLeads = (db: SqlDatabase) => db.all('SELECT * FROM read_leads ORDER BY id');

it('writes, with room for two leads, the rows apply writes event by event, erasures and automatic scores included', async () => {
  const directory = temporaryDirectory();
  directories.push(directory);
  const store = openSqliteEventStore({ filename: directory.file('events.db') });
  const history = generateLeadHistory({ seed: 31, leadCount: 9, eventCount: 90 });
  const leadIds = [...new Set(history.map(({ event }) => event.data.leadId))];
  // Automatic scores (on the leads' score streams) among the leads' events, as the lead scorer writes them.
  const scoreAll = (round: number) =>
    Promise.all(
      leadIds.map((leadId) =>
        rescoreLead(store, { leadId, reason: 'ALL_OPEN_LEADS', rules: DEFAULT_SCORING_RULES, causationId: `round-${round}`, actor: 'lead-scorer', correlationId: 'c', now: new Date() }),
      ),
    );
  await appendAll(store, history.slice(0, 30));
  await scoreAll(1);
  await appendAll(store, history.slice(30, 60));
  await store.appendToStream(
    personalDataStreamId(leadIds[0]!),
    [
      {
        id: newId(),
        type: 'PersonalDataErased',
        data: { subjectId: leadIds[0]!, leadIds: leadIds.slice(0, 3), contactIds: [], keyIds: [], origin: 'REQUEST', reason: 'asked' },
        metadata: { actor: 'dpo', recordedAt: '2026-01-01T00:00:00.000Z', occurredAt: '2026-01-01T00:00:00.000Z', correlationId: 'e', causationId: 'e', schemaVersion: 1 },
      },
    ],
    { expectedRevision: NO_STREAM },
  );
  await appendAll(store, history.slice(60));
  await scoreAll(2);
  const events = (await store.readAll()).filter((event) => leadsProjection.canHandle.includes(event.type));
  await store.close();

  await applyAndFold(leadsProjection, foldLeadsInMemory(2), events, 5, async (applied, folded) => {
    const rows = await readLeads(applied);
    expect(rows).toHaveLength(leadIds.length);
    expect(rows.filter((row) => (row as { personal_data_erased: number }).personal_data_erased === 1)).toHaveLength(3);
    expect(events.filter((event) => event.type === 'LeadRescored').length).toBeGreaterThan(leadIds.length / 2);
    expect(await readLeads(folded)).toEqual(rows);
  });
});
