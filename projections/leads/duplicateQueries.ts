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
