/**
 * Lead scoring rules, which each company writes for itself (CRM_SCORING_FILE). A rule gives
 * points either for what the lead is (`when`: source, job title keywords, company size,
 * country; every condition given must hold) or for what it did in its current cycle (`count`:
 * contacts, optionally by channel and outcome, or quote requests; points per action, up to `max`
 * actions). Rules are data, checked once when loaded, and named by their `version`.
 */
import { digest } from '../../core/ids';
import {
  CONTACT_CHANNELS,
  CONTACT_OUTCOMES,
  LEAD_SOURCES,
  type ContactChannel,
  type ContactOutcome,
  type LeadSource,
} from '../leads/lead';

export interface AttributeConditions {
  source?: LeadSource[];
  /** Words or phrases looked for in the person's job title, ignoring case and accents. */
  jobTitleKeywords?: string[];
  /** Head count bands as captured (e.g. "51-200"). */
  companySize?: string[];
  /** The company's country as captured (e.g. "ES" or "Spain"), ignoring case and accents. */
  country?: string[];
}

export type CountedAction =
  | { action: 'CONTACT'; channels?: ContactChannel[]; outcomes?: ContactOutcome[]; max?: number }
  | { action: 'QUOTE_REQUESTED'; max?: number };

export type ScoringRule = { id: string; label?: string; points: number } & (
  | { when: AttributeConditions; count?: never }
  | { count: CountedAction; when?: never }
);

export interface ScoringRules {
  /** Recorded with every score; a changed definition needs a new version. */
  version: string;
  rules: ScoringRule[];
}

export const ACTIONS = ['CONTACT', 'QUOTE_REQUESTED'] as const;

/** Keeps any score within a 32-bit integer, the widest column every read store sorts by. */
export const MAX_RULES = 200;
export const MAX_POINTS = 1000;
export const MAX_COUNT = 1000;

const REACHED_OR_MET: ContactOutcome[] = ['REACHED'];

export const DEFAULT_SCORING_RULES: ScoringRules = {
  version: 'default-1',
  rules: [
    { id: 'referral', label: 'Came by referral', points: 20, when: { source: ['REFERRAL'] } },
    {
      id: 'inbound',
      label: 'Reached out to us',
      points: 10,
      when: { source: ['INBOUND_CALL', 'INBOUND_EMAIL', 'WEB_FORM', 'TRADE_FAIR'] },
    },
    {
      id: 'decision-maker',
      label: 'Decision maker by job title',
      points: 15,
      when: {
        jobTitleKeywords: ['ceo', 'owner', 'founder', 'director', 'head of', 'gerente', 'propietario', 'directora'],
      },
    },
    { id: 'mid-size-company', label: 'Company of 51 people or more', points: 10, when: { companySize: ['51-200', '201-500', '501-1000', '1000+'] } },
    { id: 'contacts-reached', label: 'Contacts reached', points: 10, count: { action: 'CONTACT', outcomes: REACHED_OR_MET, max: 3 } },
    {
      id: 'meetings-held',
      label: 'Meetings held',
      points: 15,
      count: { action: 'CONTACT', channels: ['MEETING'], outcomes: REACHED_OR_MET, max: 2 },
    },
    {
      id: 'unreachable',
      label: 'Bounced e-mails and wrong numbers',
      points: -10,
      count: { action: 'CONTACT', outcomes: ['BOUNCED', 'WRONG_NUMBER'], max: 2 },
    },
    { id: 'quote-requested', label: 'Asked for a quote', points: 25, count: { action: 'QUOTE_REQUESTED', max: 2 } },
  ],
};

/** Identifies a version's definition: two files with the same version must hash alike. */
export const rulesHash = (rules: ScoringRules): string => digest(rules);

export class ScoringRulesError extends Error {
  override readonly name = 'ScoringRulesError';
}

/** Checks every field, reports every problem at once, and returns the rules without extras. */
export const parseScoringRules = (value: unknown): ScoringRules => {
  const problems: string[] = [];
  const input = isObject(value) ? value : {};
  if (!isObject(value)) problems.push('expected { "version": ..., "rules": [...] }');
  const version = typeof input.version === 'number' ? String(input.version) : input.version;
  if (typeof version !== 'string' || !/^[\w.:+-]{1,100}$/.test(version)) {
    problems.push('version must be a string or number of at most 100 letters, digits and ._:+-');
  }
  const rules = Array.isArray(input.rules) ? input.rules : [];
  if (!Array.isArray(input.rules)) problems.push('rules must be a list');
  if (rules.length > MAX_RULES) problems.push(`rules may hold at most ${MAX_RULES} rules`);
  const ids = new Set<string>();
  const parsed = rules.map((rule, index) => parseRule(rule, `rules[${index}]`, ids, problems));
  if (problems.length > 0) throw new ScoringRulesError(`invalid scoring rules: ${problems.join('; ')}`);
  return { version: version as string, rules: parsed };
};

const parseRule = (value: unknown, at: string, ids: Set<string>, problems: string[]): ScoringRule => {
  const rule = isObject(value) ? value : {};
  if (!isObject(value)) problems.push(`${at} must be an object`);
  const id = rule.id;
  if (typeof id !== 'string' || !/^[a-z0-9][a-z0-9_-]{0,63}$/i.test(id)) {
    problems.push(`${at}.id must be letters, digits, - and _ (at most 64)`);
  } else if (ids.has(id)) {
    problems.push(`${at}.id ${id} appears twice`);
  } else {
    ids.add(id);
  }
  const label = rule.label;
  if (label !== undefined && (typeof label !== 'string' || label.length > 200)) {
    problems.push(`${at}.label must be a string of at most 200 characters`);
  }
  const points = rule.points;
  if (!Number.isInteger(points) || Math.abs(points as number) > MAX_POINTS) {
    problems.push(`${at}.points must be a whole number from -${MAX_POINTS} to ${MAX_POINTS}`);
  }
  const base = { id: id as string, ...(label === undefined ? {} : { label: label as string }), points: points as number };
  if ((rule.when === undefined) === (rule.count === undefined)) {
    problems.push(`${at} must have either "when" (attributes) or "count" (actions)`);
    return { ...base, when: {} };
  }
  return rule.when !== undefined
    ? { ...base, when: parseConditions(rule.when, `${at}.when`, problems) }
    : { ...base, count: parseCount(rule.count, `${at}.count`, problems) };
};

const parseConditions = (value: unknown, at: string, problems: string[]): AttributeConditions => {
  if (!isObject(value)) {
    problems.push(`${at} must be an object`);
    return {};
  }
  const known = ['source', 'jobTitleKeywords', 'companySize', 'country'];
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) problems.push(`${at}.${key} is not a condition; use ${known.join(', ')}`);
  }
  const conditions: AttributeConditions = {};
  if (value.source !== undefined) conditions.source = listOf(value.source, `${at}.source`, problems, LEAD_SOURCES);
  for (const key of ['jobTitleKeywords', 'companySize', 'country'] as const) {
    if (value[key] !== undefined) conditions[key] = listOf(value[key], `${at}.${key}`, problems);
  }
  if (Object.keys(conditions).length === 0) problems.push(`${at} needs at least one condition`);
  return conditions;
};

const parseCount = (value: unknown, at: string, problems: string[]): CountedAction => {
  if (!isObject(value)) {
    problems.push(`${at} must be an object`);
    return { action: 'QUOTE_REQUESTED' };
  }
  const max = value.max;
  if (max !== undefined && (!Number.isInteger(max) || (max as number) < 1 || (max as number) > MAX_COUNT)) {
    problems.push(`${at}.max must be a whole number from 1 to ${MAX_COUNT}`);
  }
  const withMax = max === undefined ? {} : { max: max as number };
  if (value.action === 'QUOTE_REQUESTED') {
    if (value.channels !== undefined || value.outcomes !== undefined) {
      problems.push(`${at}: channels and outcomes apply to CONTACT only`);
    }
    return { action: 'QUOTE_REQUESTED', ...withMax };
  }
  if (value.action !== 'CONTACT') {
    problems.push(`${at}.action must be one of ${ACTIONS.join(', ')}`);
    return { action: 'QUOTE_REQUESTED' };
  }
  return {
    action: 'CONTACT',
    ...(value.channels === undefined ? {} : { channels: listOf(value.channels, `${at}.channels`, problems, CONTACT_CHANNELS) }),
    ...(value.outcomes === undefined ? {} : { outcomes: listOf(value.outcomes, `${at}.outcomes`, problems, CONTACT_OUTCOMES) }),
    ...withMax,
  };
};

const listOf = <T extends string>(
  value: unknown,
  at: string,
  problems: string[],
  allowed?: readonly T[],
): T[] => {
  if (!Array.isArray(value) || value.length === 0 || !value.every((item) => typeof item === 'string' && item.trim() !== '')) {
    problems.push(`${at} must be a non-empty list of strings`);
    return [];
  }
  const unknown = allowed ? value.filter((item) => !allowed.includes(item as T)) : [];
  if (unknown.length > 0) problems.push(`${at}: unknown ${unknown.join(', ')}; expected ${allowed!.join(', ')}`);
  return value as T[];
};

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
