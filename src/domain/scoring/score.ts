/**
 * The scoring function: pure, so that the rules of a version and the lead's state before a
 * score always give that score again (`reproduceScore`).
 */
import { searchKey } from '../../core/normalize';
import { CONTACT_CHANNELS, CONTACT_OUTCOMES, contactKey, type ExistingLead, type ScoreContribution } from '../leads/lead';
import { MAX_COUNT, type AttributeConditions, type CountedAction, type ScoringRules } from './rules';

export interface LeadScore {
  score: number;
  /** The rules that added or took away points, in the rules' order. */
  breakdown: ScoreContribution[];
}

export const scoreLeadWith = (rules: ScoringRules, lead: ExistingLead): LeadScore => {
  const breakdown: ScoreContribution[] = [];
  for (const rule of rules.rules) {
    const label = rule.label === undefined ? {} : { label: rule.label };
    if (rule.when !== undefined) {
      if (rule.points !== 0 && matches(rule.when, lead)) breakdown.push({ ruleId: rule.id, ...label, points: rule.points });
      continue;
    }
    const count = Math.min(countOf(rule.count, lead), rule.count.max ?? MAX_COUNT);
    if (count > 0 && rule.points !== 0) breakdown.push({ ruleId: rule.id, ...label, points: rule.points * count, count });
  }
  return { score: breakdown.reduce((sum, item) => sum + item.points, 0), breakdown };
};

const matches = (when: AttributeConditions, lead: ExistingLead): boolean =>
  (when.source === undefined || when.source.includes(lead.source)) &&
  (when.jobTitleKeywords === undefined || when.jobTitleKeywords.some((keyword) => hasWords(lead.person?.jobTitle, keyword))) &&
  (when.companySize === undefined || when.companySize.some((size) => same(size, lead.company?.size))) &&
  (when.country === undefined || when.country.some((country) => same(country, lead.company?.address?.country)));

const same = (wanted: string, actual: string | undefined): boolean =>
  actual !== undefined && searchKey(wanted) === searchKey(actual);

/** "Head of Sales" has the keyword "head of" but not "ad"; accents and case do not count. */
const hasWords = (text: string | undefined, keyword: string): boolean => {
  const words = (value: string) => searchKey(value).split(/[^\p{L}\p{N}]+/u).filter(Boolean).join(' ');
  const wanted = words(keyword);
  return text !== undefined && wanted !== '' && ` ${words(text)} `.includes(` ${wanted} `);
};

const countOf = (counted: CountedAction, lead: ExistingLead): number => {
  if (counted.action === 'QUOTE_REQUESTED') return lead.quoteRequests;
  let total = 0;
  for (const channel of counted.channels ?? CONTACT_CHANNELS) {
    for (const outcome of counted.outcomes ?? CONTACT_OUTCOMES) total += lead.contactsBy[contactKey(channel, outcome)] ?? 0;
  }
  return total;
};
