/**
 * What a lead's `search` matches: its person's names, full name and e-mail, and its company's
 * name, each folded by `searchKey`. One definition for the leads read model (its `search_text`
 * column, which `leads(filter: { search })` and dynamic lists query with LIKE) and for the replay,
 * which matches dynamic lists in memory (`leadFilterOf`): the two must find the same leads.
 */
import { searchKey } from '../../core/normalize';
import type { LeadCompany, LeadPerson } from './lead';

export const leadSearchText = (person: LeadPerson | null | undefined, company: LeadCompany | null | undefined): string => {
  const { firstName, lastName, email } = person ?? {};
  const fullName = [firstName, lastName].filter(Boolean).join(' ');
  return [firstName, lastName, fullName, email, company?.name]
    .filter((part): part is string => Boolean(part))
    .map(searchKey)
    .join('\n');
};
