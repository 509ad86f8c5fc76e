/**
 * The lead lists read model: one row per list in `read_lead_lists` (name, kind, a dynamic list's
 * saved filter, how many leads a static one holds, its last assignment), and a static list's
 * leads in `read_lead_list_members`, indexed both ways, so `leads(filter: { listId })` and a
 * lead's lists are one indexed lookup each.
 */
import type { RecordedEvent } from '../../src/core/eventStore';
import { searchKey } from '../../src/core/normalize';
import type { LeadListEvent } from '../../src/domain/leadLists/events';
import { findPageBySortKey, type Page } from '../pagination';
import type { Projection } from '../projection';
import type { SqlDatabase, SqlValue } from '../sqlDatabase';
import { fromRow, type LeadListRow, type LeadListView } from './leadListView';

const CREATE_TABLES = `
  CREATE TABLE IF NOT EXISTS read_lead_lists (
    id TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    description TEXT,
    filter TEXT,
    status TEXT NOT NULL,
    lead_count INTEGER NOT NULL,
    last_assignment TEXT,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    sort_key TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS read_lead_lists_by_name ON read_lead_lists (sort_key, id);
  CREATE TABLE IF NOT EXISTS read_lead_list_members (
    list_id TEXT NOT NULL,
    lead_id TEXT NOT NULL,
    added_at TEXT NOT NULL,
    PRIMARY KEY (list_id, lead_id)
  );
  CREATE INDEX IF NOT EXISTS read_lead_list_members_by_lead ON read_lead_list_members (lead_id, list_id);`;

type RecordedLeadListEvent = LeadListEvent & Pick<RecordedEvent, 'revision' | 'metadata'>;

export const leadListsProjection: Projection = {
  name: 'leadLists',
  version: 1,
  rebuildsInBulk: true,
  rebuildWeight: 0.4,
  readsPersonalData: false,
  canHandle: ['LeadListCreated', 'LeadListRenamed', 'LeadsAddedToList', 'LeadsRemovedFromList', 'LeadListArchived', 'LeadListAssigned'],
  setup: (db) => db.exec(CREATE_TABLES),
  reset: (db) => db.exec('DROP TABLE IF EXISTS read_lead_lists; DROP TABLE IF EXISTS read_lead_list_members'),
  async apply(tx, recorded) {
    const event = recorded as RecordedLeadListEvent;
    const { listId } = event.data;
    const at = event.metadata.recordedAt;
    if (event.type === 'LeadListCreated') {
      const { name, kind, description, filter } = event.data;
      await tx.run(
        `INSERT INTO read_lead_lists (id, revision, name, kind, description, filter, status, lead_count, created_at, created_by, updated_at, sort_key)
         VALUES (?, ?, ?, ?, ?, ?, 'ACTIVE', 0, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
        [listId, event.revision, name, kind, description ?? null, filter ? JSON.stringify(filter) : null, at, event.metadata.actor, at, searchKey(name)],
      );
      return;
    }
    // Each event moves the row's revision: one seen already (redelivered) changes nothing.
    const moved = await tx.run('UPDATE read_lead_lists SET revision = ?, updated_at = ? WHERE id = ? AND revision < ?', [
      event.revision,
      at,
      listId,
      event.revision,
    ]);
    if (moved.changes === 0) return;
    switch (event.type) {
      case 'LeadListRenamed':
        await tx.run('UPDATE read_lead_lists SET name = ?, sort_key = ? WHERE id = ?', [event.data.name, searchKey(event.data.name), listId]);
        return;
      case 'LeadsAddedToList':
        for (const leadId of event.data.leadIds) {
          await tx.run('INSERT INTO read_lead_list_members (list_id, lead_id, added_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING', [listId, leadId, at]);
        }
        return updateCount(tx, listId);
      case 'LeadsRemovedFromList':
        for (const leadId of event.data.leadIds) {
          await tx.run('DELETE FROM read_lead_list_members WHERE list_id = ? AND lead_id = ?', [listId, leadId]);
        }
        return updateCount(tx, listId);
      case 'LeadListArchived':
        await tx.run(`UPDATE read_lead_lists SET status = 'ARCHIVED' WHERE id = ?`, [listId]);
        return;
      case 'LeadListAssigned': {
        const { strategy, owners, onlyUnassigned, assignments, leftOut } = event.data;
        const summary = { at, by: event.metadata.actor, strategy, owners, onlyUnassigned, planned: assignments.length, leftOut };
        await tx.run('UPDATE read_lead_lists SET last_assignment = ? WHERE id = ?', [JSON.stringify(summary), listId]);
        return;
      }
    }
  },
};

const updateCount = async (tx: SqlDatabase, listId: string): Promise<void> => {
  await tx.run(
    `UPDATE read_lead_lists SET lead_count = (SELECT CAST(COUNT(*) AS INTEGER) FROM read_lead_list_members WHERE list_id = ?) WHERE id = ?`,
    [listId, listId],
  );
};

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

export const getLeadList = async (db: SqlDatabase, id: string): Promise<LeadListView | undefined> => {
  const row = await db.get<LeadListRow>('SELECT * FROM read_lead_lists WHERE id = ?', [id]);
  return row && fromRow(row);
};

/** Alphabetical by name; archived lists only when asked for. */
export const findLeadLists = async (
  db: SqlDatabase,
  options: { includeArchived?: boolean; first?: number; after?: string } = {},
): Promise<Page<LeadListView>> =>
  findPageBySortKey<LeadListRow, LeadListView>(db, {
    table: 'read_lead_lists',
    conditions: options.includeArchived ? [] : [`status = 'ACTIVE'`],
    params: [],
    first: options.first,
    after: options.after,
    fromRow,
  });

/** The static lists a lead is in, alphabetical. */
export const listsOfLead = async (db: SqlDatabase, leadId: string): Promise<LeadListView[]> => {
  const rows = await db.all<LeadListRow>(
    `SELECT l.* FROM read_lead_lists l JOIN read_lead_list_members m ON m.list_id = l.id
     WHERE m.lead_id = ? ORDER BY l.sort_key, l.id`,
    [leadId],
  );
  return rows.map(fromRow);
};

/** The SQL condition on `read_leads` that keeps a static list's leads (`id` is the lead's). */
export const memberOfListCondition = (listId: string): { condition: string; params: SqlValue[] } => ({
  condition: 'id IN (SELECT lead_id FROM read_lead_list_members WHERE list_id = ?)',
  params: [listId],
});
