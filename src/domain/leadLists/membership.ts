/**
 * Which leads a dynamic list holds, decided in memory: the replay (`retrospective`) cuts KPIs by
 * list without read models, so it needs the same answer the leads read model gives in SQL
 * (`addFilterConditions` in projections/leads/leadsQueries.ts). Each criterion here is the SQL one:
 * equality on status, rank, source, campaign and owner (a lead without the field never matches),
 * `search` as a substring of the lead's search text, and `minScore` on the last score (an unscored
 * lead never matches).
 */
import type { ExistingLead } from '../leads/lead';
import { leadSearchText, searchFinds } from '../leads/search';
import type { SavedLeadFilter } from './events';

export const leadMatchesFilter = (lead: ExistingLead, filter: SavedLeadFilter): boolean => {
  const equal = <T>(wanted: T | undefined, actual: T | undefined) => wanted === undefined || wanted === actual;
  return (
    equal(filter.status, lead.status) &&
    equal(filter.rank, lead.rank) &&
    equal(filter.source, lead.source) &&
    equal(filter.campaign, lead.campaign) &&
    equal(filter.ownerId, lead.ownerId) &&
    (filter.minScore === undefined || (lead.score !== undefined && lead.score.value >= filter.minScore)) &&
    (filter.search === undefined || searchFinds(filter.search, leadSearchText(lead.person, lead.company)))
  );
};
