/**
 * `npm run bench:scoring`: µs a lead score (`scoreLeadWith`, the default rules), which the lead
 * scorer computes after every capture and every fact of a lead. The baseline is the scoring this
 * replaced, which folded each job-title keyword, size and country of the rules, and the lead's own,
 * again at every comparison; timed in the same run, alternated, over leads that match some rules
 * and not others, their scores checked equal. Medians of `BENCH_SCORING_ROUNDS` (5) rounds of
 * `BENCH_SCORES` (100,000) scores.
 */
import { foldEvents } from '../src/core/decider';
import { searchKey } from '../src/core/normalize';
import { CONTACT_CHANNELS, CONTACT_OUTCOMES, contactKey, evolveLead, initialLeadState, type ExistingLead, type LeadEvent, type ScoreContribution } from '../src/domain/leads/lead';
import { DEFAULT_SCORING_RULES, MAX_COUNT, type AttributeConditions, type CountedAction, type ScoringRules } from '../src/domain/scoring/rules';
import { scoreLeadWith, type LeadScore } from '../src/domain/scoring/score';
import { envNumber } from './harness';

const SCORES = envNumber('BENCH_SCORES', 100_000, 1);
const ROUNDS = envNumber('BENCH_SCORING_ROUNDS', 5, 1);

/** The scoring before, as it was. */
const baselineScore = (rules: ScoringRules, lead: ExistingLead): LeadScore => {
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
const same = (wanted: string, actual: string | undefined): boolean => actual !== undefined && searchKey(wanted) === searchKey(actual);
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

const leadOf = (data: Record<string, unknown>, facts: LeadEvent[] = []): ExistingLead =>
  foldEvents({ evolve: evolveLead, initialState: initialLeadState }, [{ type: 'LeadCaptured', data: { leadId: 'lead-1', ...data } } as LeadEvent, ...facts]) as ExistingLead;

const LEADS: ExistingLead[] = [
  leadOf({ source: 'WEB_FORM', person: { firstName: 'Marta', lastName: 'Puig', jobTitle: 'Responsable de Compras' }, company: { name: 'Botiga SL', size: '11-50', address: { country: 'ES' } } }),
  leadOf({ source: 'REFERRAL', person: { lastName: 'Soler', jobTitle: 'Directora General' }, company: { name: 'Òptica Soler', size: '51-200', address: { country: 'España' } } }),
  leadOf({ source: 'TRADE_FAIR', person: { lastName: 'Ng', jobTitle: 'Head of Procurement' } }, [
    { type: 'LeadContactLogged', data: { leadId: 'lead-1', channel: 'MEETING', outcome: 'REACHED' } } as LeadEvent,
    { type: 'LeadQuoteRequested', data: { leadId: 'lead-1' } } as LeadEvent,
  ]),
  leadOf({ source: 'OTHER', person: { lastName: 'Ruiz' } }),
];

const timed = (score: (rules: ScoringRules, lead: ExistingLead) => LeadScore): number => {
  const started = process.hrtime.bigint();
  for (let index = 0; index < SCORES; index++) score(DEFAULT_SCORING_RULES, LEADS[index % LEADS.length]!);
  return Number(process.hrtime.bigint() - started) / 1e3 / SCORES;
};

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

for (const lead of LEADS) {
  const [ours, before] = [scoreLeadWith(DEFAULT_SCORING_RULES, lead), baselineScore(DEFAULT_SCORING_RULES, lead)];
  if (JSON.stringify(ours) !== JSON.stringify(before)) throw new Error(`another score than the baseline's: ${JSON.stringify(ours)} against ${JSON.stringify(before)}`);
}
const times = { baseline: [] as number[], ours: [] as number[] };
for (let round = 0; round < ROUNDS; round++) {
  // Alternated, the order swapped each round.
  const order = round % 2 === 0 ? (['baseline', 'ours'] as const) : (['ours', 'baseline'] as const);
  for (const name of order) times[name].push(timed(name === 'baseline' ? baselineScore : scoreLeadWith));
}
const [baseline, ours] = [median(times.baseline), median(times.ours)];
console.log(`${SCORES} scores a round over ${LEADS.length} leads, ${ROUNDS} rounds, medians`);
console.log(`baseline (lists folded at each comparison): ${baseline.toFixed(2)} µs a score`);
console.log(`scoreLeadWith:                              ${ours.toFixed(2)} µs a score`);
console.log(`ours / baseline: ${(ours / baseline).toFixed(2)}`);
