/**
 * Who a lead may be already: open leads and contacts with the same e-mail address, or the same
 * person's name at the same company (both normalised: case, accents, spacing and legal forms
 * ignored). Asked when a lead is read (`Lead.possibleDuplicates`) and before an import captures
 * a row (`--skip-duplicates`); a capture is never refused for it.
 */
import type { LeadCompany, LeadPerson } from '../../src/domain/leads/lead';
import { normalizeName } from '../../src/core/normalize';
import type { SqlDatabase } from '../sqlDatabase';
import { duplicateKeysOf } from './leadView';

export type DuplicateKind = 'LEAD' | 'CONTACT';
export type DuplicateMatch = 'EMAIL' | 'NAME_AND_COMPANY';

export interface DuplicateCandidate {
  kind: DuplicateKind;
  id: string;
  matchedOn: DuplicateMatch;
}

/** Enough to act on; a person with more look-alikes than this has a data problem of its own. */
const MAX_CANDIDATES = 20;

export const findPossibleDuplicates = async (
  db: SqlDatabase,
  wanted: { person?: LeadPerson | null; company?: LeadCompany | null },
  /** The lead asked about, which is not its own duplicate. */
  exceptLeadId = '',
  /** The contact that lead is (opened for it, or converted into it): the same person, not a duplicate. */
  exceptContactId?: string,
): Promise<DuplicateCandidate[]> => {
  const { emailKey, identityKey } = duplicateKeysOf({ person: wanted.person ?? null, company: wanted.company ?? null });
  if (emailKey === undefined && identityKey === undefined) return [];
  const found = new Map<string, DuplicateCandidate>();
  const add = (kind: DuplicateKind, id: string, matchedOn: DuplicateMatch) => {
    if (kind === 'CONTACT' && id === exceptContactId) return;
    const key = `${kind}:${id}`;
    // An e-mail match is the stronger statement: it wins when both match.
    if (!found.has(key) || matchedOn === 'EMAIL') found.set(key, { kind, id, matchedOn });
  };

  const leads = await db.all<{ id: string; email_key: string | null; identity_key: string | null }>(
    `SELECT id, email_key, identity_key FROM read_leads
     WHERE (email_key = ? OR identity_key = ?) AND id <> ? AND status IN ('NEW', 'CONTACTED', 'QUALIFIED')
     ORDER BY captured_at, id LIMIT ?`,
    [emailKey ?? null, identityKey ?? null, exceptLeadId, MAX_CANDIDATES],
  );
  for (const lead of leads) add('LEAD', lead.id, emailKey !== undefined && lead.email_key === emailKey ? 'EMAIL' : 'NAME_AND_COMPANY');

  if (emailKey !== undefined) {
    const contacts = await db.all<{ id: string }>('SELECT id FROM read_contacts WHERE normalized_email = ? ORDER BY sort_key, id LIMIT ?', [
      emailKey,
      MAX_CANDIDATES,
    ]);
    for (const contact of contacts) add('CONTACT', contact.id, 'EMAIL');
  }
  if (identityKey !== undefined) {
    const [name, company] = identityKey.split('|') as [string, string];
    const contacts = await db.all<{ id: string; first_name: string | null; last_name: string | null }>(
      `SELECT c.id, c.first_name, c.last_name FROM read_contacts c JOIN read_accounts a ON a.id = c.account_id
       WHERE a.normalized_name = ? ORDER BY c.sort_key, c.id LIMIT 500`,
      [company],
    );
    for (const contact of contacts) {
      if (normalizeName([contact.first_name, contact.last_name].filter(Boolean).join(' ')) === name) add('CONTACT', contact.id, 'NAME_AND_COMPANY');
    }
  }
  return [...found.values()].slice(0, MAX_CANDIDATES);
};

/** The statuses of a lead still open: the only leads that count as candidates. */
const OPEN_LEAD_STATUSES = "('NEW', 'CONTACTED', 'QUALIFIED')";
/** Rows asked about per round of queries: bounds the statements' parameters (a few per row). */
const ROWS_PER_ROUND = 500;
/** A company's contacts read to compare names, as `findPossibleDuplicates` reads them. */
const CONTACTS_PER_COMPANY = 500;

const placeholders = (count: number) => Array.from({ length: count }, () => '?').join(', ');

/**
 * `findPossibleDuplicates` for many leads at once, each answered exactly as it alone would be
 * (the same candidates, in the same order), in three queries per 500 leads instead of up to
 * three per lead: an import asks it for every row of a request, and one query per row was most
 * of a row's cost on SQLite and a round trip each on PostgreSQL. Each query reads, per key, only
 * as many of its matches as one lead's query could use (ranked by a window function in the
 * order that query sorts by: one more lead than the limit, for the lead asked about, which is
 * not its own candidate), and returns them in that order, so the database sorts as it would for
 * one lead.
 */
export const findPossibleDuplicatesOfMany = async (
  db: SqlDatabase,
  wanted: readonly { person?: LeadPerson | null; company?: LeadCompany | null; exceptLeadId?: string }[],
): Promise<DuplicateCandidate[][]> => {
  const answers: DuplicateCandidate[][] = [];
  for (let start = 0; start < wanted.length; start += ROWS_PER_ROUND) {
    answers.push(...(await findForRound(db, wanted.slice(start, start + ROWS_PER_ROUND))));
  }
  return answers;
};

const findForRound = async (
  db: SqlDatabase,
  wanted: readonly { person?: LeadPerson | null; company?: LeadCompany | null; exceptLeadId?: string }[],
): Promise<DuplicateCandidate[][]> => {
  const asked = wanted.map((row) => ({
    ...duplicateKeysOf({ person: row.person ?? null, company: row.company ?? null }),
    exceptLeadId: row.exceptLeadId ?? '',
    found: new Map<string, DuplicateCandidate>(),
  }));
  const byKey = (pick: (row: (typeof asked)[number]) => string | undefined) => {
    const rows = new Map<string, (typeof asked)[number][]>();
    for (const row of asked) {
      const key = pick(row);
      if (key !== undefined) (rows.get(key) ?? rows.set(key, []).get(key)!).push(row);
    }
    return rows;
  };
  const byEmail = byKey((row) => row.emailKey);
  const byIdentity = byKey((row) => row.identityKey);
  const add = (row: (typeof asked)[number], kind: DuplicateKind, id: string, matchedOn: DuplicateMatch) => {
    const key = `${kind}:${id}`;
    // As in findPossibleDuplicates: an e-mail match wins when both match.
    if (!row.found.has(key) || matchedOn === 'EMAIL') row.found.set(key, { kind, id, matchedOn });
  };

  // Open leads by either key, in capture order: each row takes its first MAX_CANDIDATES but its own.
  const emailKeys = [...byEmail.keys()];
  const identityKeys = [...byIdentity.keys()];
  // The open leads of each key ranked in a partition of their own, the closed ones in another:
  // with the status test in the WHERE clause instead, SQLite read every open lead by the status
  // index rather than each key's few by its own index (110 ms for 500 rows, not 30).
  const openLead = `CASE WHEN status IN ${OPEN_LEAD_STATUSES} THEN 1 ELSE 0 END`;
  const ranked = (column: string, count: number) =>
    `SELECT id, email_key, identity_key, captured_at, ${openLead} AS open_lead,
            ROW_NUMBER() OVER (PARTITION BY ${column}, ${openLead} ORDER BY captured_at, id) AS n
     FROM read_leads WHERE ${column} IN (${placeholders(count)})`;
  const parts = [
    ...(emailKeys.length > 0 ? [ranked('email_key', emailKeys.length)] : []),
    ...(identityKeys.length > 0 ? [ranked('identity_key', identityKeys.length)] : []),
  ];
  if (parts.length > 0) {
    const leads = await db.all<{ id: string; email_key: string | null; identity_key: string | null }>(
      `SELECT id, email_key, identity_key FROM (${parts.join(' UNION ALL ')}) ranked
       WHERE open_lead = 1 AND n <= ? ORDER BY captured_at, id`,
      [...emailKeys, ...identityKeys, MAX_CANDIDATES + 1],
    );
    const taken = new Map<(typeof asked)[number], Set<string>>();
    for (const lead of leads) {
      const rows = new Set([...(lead.email_key === null ? [] : (byEmail.get(lead.email_key) ?? [])), ...(lead.identity_key === null ? [] : (byIdentity.get(lead.identity_key) ?? []))]);
      for (const row of rows) {
        if (lead.id === row.exceptLeadId) continue;
        const seen = taken.get(row) ?? taken.set(row, new Set()).get(row)!;
        if (seen.has(lead.id) || seen.size >= MAX_CANDIDATES) continue;
        seen.add(lead.id);
        add(row, 'LEAD', lead.id, row.emailKey !== undefined && lead.email_key === row.emailKey ? 'EMAIL' : 'NAME_AND_COMPANY');
      }
    }
  }

  if (emailKeys.length > 0) {
    const contacts = await db.all<{ id: string; normalized_email: string }>(
      `SELECT id, normalized_email FROM (
         SELECT id, normalized_email, sort_key, ROW_NUMBER() OVER (PARTITION BY normalized_email ORDER BY sort_key, id) AS n
         FROM read_contacts WHERE normalized_email IN (${placeholders(emailKeys.length)})
       ) ranked WHERE n <= ? ORDER BY sort_key, id`,
      [...emailKeys, MAX_CANDIDATES],
    );
    for (const contact of contacts) for (const row of byEmail.get(contact.normalized_email) ?? []) add(row, 'CONTACT', contact.id, 'EMAIL');
  }

  const byCompany = new Map<string, (typeof asked)[number][]>();
  for (const row of asked) {
    if (row.identityKey === undefined) continue;
    const company = row.identityKey.split('|')[1]!;
    (byCompany.get(company) ?? byCompany.set(company, []).get(company)!).push(row);
  }
  if (byCompany.size > 0) {
    const companies = [...byCompany.keys()];
    const contacts = await db.all<{ id: string; first_name: string | null; last_name: string | null; company: string }>(
      `SELECT id, first_name, last_name, company FROM (
         SELECT c.id, c.first_name, c.last_name, c.sort_key, a.normalized_name AS company,
                ROW_NUMBER() OVER (PARTITION BY a.normalized_name ORDER BY c.sort_key, c.id) AS n
         FROM read_contacts c JOIN read_accounts a ON a.id = c.account_id
         WHERE a.normalized_name IN (${placeholders(companies.length)})
       ) ranked WHERE n <= ? ORDER BY sort_key, id`,
      [...companies, CONTACTS_PER_COMPANY],
    );
    for (const contact of contacts) {
      const name = normalizeName([contact.first_name, contact.last_name].filter(Boolean).join(' '));
      for (const row of byCompany.get(contact.company) ?? []) {
        if (row.identityKey === `${name}|${contact.company}`) add(row, 'CONTACT', contact.id, 'NAME_AND_COMPANY');
      }
    }
  }
  return asked.map((row) => [...row.found.values()].slice(0, MAX_CANDIDATES));
};
