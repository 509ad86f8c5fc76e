/**
 * Which leads a dynamic list holds, decided in memory: the replay (`retrospective`) cuts KPIs by
 * list without read models, so it needs the same answer the leads read model gives in SQL
 * (`addFilterConditions` in projections/leads/leadsQueries.ts). Each criterion here is the SQL one:
 * equality on status, rank, source, campaign and owner (a lead without the field never matches),
 * `search` as a substring of the lead's search text, and `minScore` on the last score (an unscored
 * lead never matches).
 */
import { searchKey } from '../../core/normalize';
import type { ExistingLead } from '../leads/lead';
import { leadSearchText } from '../leads/search';
import type { SavedLeadFilter } from './events';

/**
 * A filter ready to test many leads: its search term folded once. `searchText` gives the lead's
 * search text (`leadSearchText`), asked for only when the filter searches, so that a caller testing
 * a lead against several lists can work it out once.
 */
export const leadFilterOf = (filter: SavedLeadFilter) => {
  const term = searchKey(filter.search ?? '');
  const equal = <T>(wanted: T | undefined, actual: T | undefined) => wanted === undefined || wanted === actual;
  return (lead: ExistingLead, searchText: () => string): boolean =>
    equal(filter.status, lead.status) &&
    equal(filter.rank, lead.rank) &&
    equal(filter.source, lead.source) &&
    equal(filter.campaign, lead.campaign) &&
    equal(filter.ownerId, lead.ownerId) &&
    (filter.minScore === undefined || (lead.score !== undefined && lead.score.value >= filter.minScore)) &&
    (term === '' || searchText().includes(term));
};

export const leadMatchesFilter = (lead: ExistingLead, filter: SavedLeadFilter): boolean =>
  leadFilterOf(filter)(lead, () => leadSearchText(lead.person, lead.company));
