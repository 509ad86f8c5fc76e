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
  const keys = leadKeys(lead);
  for (const rule of rules.rules) {
    const label = rule.label === undefined ? {} : { label: rule.label };
    if (rule.when !== undefined) {
      if (rule.points !== 0 && matches(rule.when, lead, keys)) breakdown.push({ ruleId: rule.id, ...label, points: rule.points });
      continue;
    }
    const count = Math.min(countOf(rule.count, lead), rule.count.max ?? MAX_COUNT);
    if (count > 0 && rule.points !== 0) breakdown.push({ ruleId: rule.id, ...label, points: rule.points * count, count });
  }
  return { score: breakdown.reduce((sum, item) => sum + item.points, 0), breakdown };
};

/**
 * The lead's attributes as the rules compare them, each made at most once a score, when a rule
 * first asks (folding text takes a Unicode normalization and a pattern or two).
 */
interface LeadKeys {
  jobTitleWords(): string | undefined;
  companySize(): string | undefined;
  country(): string | undefined;
}

const leadKeys = (lead: ExistingLead): LeadKeys => {
  const once = <T>(make: () => T) => {
    let made: { value: T } | undefined;
    return () => (made ??= { value: make() }).value;
  };
  const keyOf = (text: string | undefined) => (text === undefined ? undefined : searchKey(text));
  return {
    // Padded with spaces, so that a keyword's words are found as whole words.
    jobTitleWords: once(() => (lead.person?.jobTitle === undefined ? undefined : ` ${words(lead.person.jobTitle)} `)),
    companySize: once(() => keyOf(lead.company?.size)),
    country: once(() => keyOf(lead.company?.address?.country)),
  };
};

const matches = (when: AttributeConditions, lead: ExistingLead, keys: LeadKeys): boolean =>
  (when.source === undefined || when.source.includes(lead.source)) &&
  (when.jobTitleKeywords === undefined || hasAnyKeyword(keys.jobTitleWords(), when.jobTitleKeywords)) &&
  (when.companySize === undefined || isAnyOf(keys.companySize(), when.companySize)) &&
  (when.country === undefined || isAnyOf(keys.country(), when.country));

/** "Head of Sales" has the keyword "head of" but not "ad"; accents and case do not count. */
const words = (value: string) => searchKey(value).split(/[^\p{L}\p{N}]+/u).filter(Boolean).join(' ');

/**
 * A rule's lists as compared, made once a list: every score of every lead asks them again, and the
 * rules do not change once parsed (a new version is a new object).
 */
const foldedOnce = (fold: (text: string) => string) => {
  const made = new WeakMap<readonly string[], readonly string[]>();
  return (list: readonly string[]): readonly string[] => {
    let keys = made.get(list);
    if (keys === undefined) made.set(list, (keys = list.map(fold)));
    return keys;
  };
};
const keywordsAsWords = foldedOnce(words);
const valuesAsKeys = foldedOnce(searchKey);

const hasAnyKeyword = (paddedTitle: string | undefined, keywords: readonly string[]): boolean =>
  paddedTitle !== undefined && keywordsAsWords(keywords).some((wanted) => wanted !== '' && paddedTitle.includes(` ${wanted} `));

const isAnyOf = (actual: string | undefined, wanted: readonly string[]): boolean =>
  actual !== undefined && valuesAsKeys(wanted).includes(actual);

const countOf = (counted: CountedAction, lead: ExistingLead): number => {
  if (counted.action === 'QUOTE_REQUESTED') return lead.quoteRequests;
  let total = 0;
  for (const channel of counted.channels ?? CONTACT_CHANNELS) {
    for (const outcome of counted.outcomes ?? CONTACT_OUTCOMES) total += lead.contactsBy[contactKey(channel, outcome)] ?? 0;
  }
  return total;
};
