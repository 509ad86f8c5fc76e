/**
 * Leads whose person a retention policy may erase: disqualified, or left open without a fact,
 * since before a cut-off, never converted, and not erased already. Times are business times
 * (the events' occurredAt), as every date the leads read model keeps.
 */
import type { SqlDatabase } from '../sqlDatabase';

export interface RetentionCandidate {
  leadId: string;
  status: 'DISQUALIFIED' | 'NEW' | 'CONTACTED' | 'QUALIFIED';
  /** When it was disqualified, or its last fact for a lead left open. */
  since: string;
}

export const leadsPastRetention = async (db: SqlDatabase, cutoff: Date): Promise<RetentionCandidate[]> => {
  const rows = await db.all<{ id: string; status: RetentionCandidate['status']; since: string }>(
    `SELECT id, status, CASE WHEN status = 'DISQUALIFIED' THEN disqualified_at ELSE updated_at END AS since
       FROM read_leads
      WHERE personal_data_erased = 0
        AND ((status = 'DISQUALIFIED' AND disqualified_at < ?)
          OR (status IN ('NEW', 'CONTACTED', 'QUALIFIED') AND updated_at < ?))
      ORDER BY since, id`,
    [cutoff.toISOString(), cutoff.toISOString()],
  );
  return rows.map((row) => ({ leadId: row.id, status: row.status, since: row.since }));
};
