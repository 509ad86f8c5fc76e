import { describe, expect, it } from 'vitest';
import { foldEvents } from '../../core/decider';
import { deciderSpecification } from '../../core/testing/deciderSpecification';
import { evolveLead, initialLeadState, type LeadEvent } from '../leads/lead';
import { leadScoringDecider, type ScoreLead } from './decide';
import { changesScoredFacts, leadRescoringDecider, type LeadRescored, type RescoreLead } from './rescore';
import { parseScoringRules } from './rules';

const leadId = 'lead-1';
const rulesV1 = parseScoringRules({
  version: 'v1',
  rules: [
    { id: 'referral', points: 20, when: { source: ['REFERRAL'] } },
    { id: 'reached', points: 10, count: { action: 'CONTACT', outcomes: ['REACHED'] } },
  ],
});
const rulesV2 = parseScoringRules({ version: 'v2', rules: [{ id: 'referral', points: 30, when: { source: ['REFERRAL'] } }] });

const captured: LeadEvent = { type: 'LeadCaptured', data: { leadId, source: 'REFERRAL', person: { lastName: 'Puig' } } };
const reached: LeadEvent = { type: 'LeadContactLogged', data: { leadId, channel: 'CALL', outcome: 'REACHED' } };
const disqualified: LeadEvent = { type: 'LeadDisqualified', data: { leadId, reason: 'NO_NEED', statusBefore: 'CONTACTED' } };

const leadAfter = (events: LeadEvent[]) => foldEvents({ evolve: evolveLead, initialState: initialLeadState }, events);

const rescore = (
  events: LeadEvent[],
  options: {
    reason?: RescoreLead['data']['reason'];
    rules?: typeof rulesV1;
    currentScore?: { value: number; rulesVersion: string };
    currentScoreRules?: typeof rulesV1;
  } = {},
): RescoreLead => ({
  type: 'RescoreLead',
  data: {
    leadId,
    reason: options.reason ?? 'FACT',
    rules: options.rules ?? rulesV1,
    lead: leadAfter(events),
    leadRevision: events.length - 1,
    currentScore: options.currentScore,
    currentScoreRules: options.currentScoreRules,
  },
});

const rescored = (score: number, basedOnRevision: number, breakdown: LeadRescored['data']['breakdown'], rulesVersion = 'v1'): LeadRescored => ({
  type: 'LeadRescored',
  data: { leadId, score, rulesVersion, breakdown, basedOnRevision },
});

describe('RescoreLead', () => {
  const given = deciderSpecification(leadRescoringDecider);

  it('scores a lead that has never been scored, from the revision it read', () => {
    given([]).when(rescore([captured])).then([rescored(20, 0, [{ ruleId: 'referral', points: 20 }])]);
  });

  it('scores again when a contact is reached: the score moves', () => {
    given([rescored(20, 0, [{ ruleId: 'referral', points: 20 }])])
      .when(rescore([captured, reached], { currentScore: { value: 20, rulesVersion: 'v1' } }))
      .then([rescored(30, 1, [{ ruleId: 'referral', points: 20 }, { ruleId: 'reached', points: 10, count: 1 }])]);
  });

  it('records nothing when the latest score, manual or automatic, is already this version\'s score', () => {
    given([]).when(rescore([captured], { currentScore: { value: 20, rulesVersion: 'v1' } })).thenNothingHappened();
  });

  it('re-scoring every open lead records the new rules version\'s score, even when the number is the same', () => {
    given([rescored(30, 1, [])])
      .when(rescore([captured, reached], { reason: 'ALL_OPEN_LEADS', rules: rulesV2, currentScore: { value: 30, rulesVersion: 'v1' }, currentScoreRules: rulesV1 }))
      .then([rescored(30, 1, [{ ruleId: 'referral', points: 30 }], 'v2')]);
  });

  it('after a rules change, a fact that did not move the score under the old rules records nothing', () => {
    given([rescored(30, 1, [])])
      .when(rescore([captured, reached], { rules: rulesV2, currentScore: { value: 30, rulesVersion: 'v1' }, currentScoreRules: rulesV1 }))
      .thenNothingHappened();
  });

  it('after a rules change, a fact that moved the score records it with the rules in use', () => {
    given([rescored(20, 0, [])])
      .when(rescore([captured, reached], { rules: rulesV2, currentScore: { value: 20, rulesVersion: 'v1' }, currentScoreRules: rulesV1 }))
      .then([rescored(30, 1, [{ ruleId: 'referral', points: 30 }], 'v2')]);
  });

  it('never goes back to an older state of the lead than the one already scored', () => {
    given([rescored(30, 1, [])]).when(rescore([captured], { currentScore: { value: 30, rulesVersion: 'v1' } })).thenNothingHappened();
  });

  it('does not score a disqualified lead, nor one that does not exist, and does not fail either', () => {
    given([rescored(30, 1, [])]).when(rescore([captured, reached, disqualified])).thenNothingHappened();
    given([]).when(rescore([])).thenNothingHappened();
  });
});

describe('ScoreLead against an automatic score', () => {
  const given = deciderSpecification(leadScoringDecider);
  const scoreLead = (latestAutomaticScore?: { value: number; rulesVersion: string }): ScoreLead => ({
    type: 'ScoreLead',
    data: { leadId, rules: rulesV1, latestAutomaticScore },
  });

  it('records nothing when the automatic score recorded after the lead\'s own is already this score', () => {
    given([captured, reached]).when(scoreLead({ value: 30, rulesVersion: 'v1' })).thenNothingHappened();
  });

  it('records a score when the automatic one is of another version', () => {
    given([captured, reached])
      .when(scoreLead({ value: 30, rulesVersion: 'v0' }))
      .then([{ type: 'LeadScored', data: { leadId, score: 30, rulesVersion: 'v1', breakdown: [{ ruleId: 'referral', points: 20 }, { ruleId: 'reached', points: 10, count: 1 }] } }]);
  });
});

describe('which lead events are scored facts', () => {
  it('the capture, contacts, quote requests, recycles and new person or company details', () => {
    const scored: LeadEvent[] = [
      captured,
      reached,
      { type: 'LeadQuoteRequested', data: { leadId } },
      { type: 'LeadRecycled', data: { leadId, cycle: 2, source: 'REFERRAL' } },
      { type: 'LeadDetailsUpdated', data: { leadId, person: { lastName: 'Puig', jobTitle: 'CEO' } } },
      { type: 'LeadDetailsUpdated', data: { leadId, company: { name: 'Puig SL', size: '51-200' } } },
    ];
    expect(scored.filter(changesScoredFacts)).toEqual(scored);
  });

  it('not what no rule reads: owner, rank, campaign or interest, disqualification, conversion, scores', () => {
    const unscored: Array<{ type: string; data: unknown }> = [
      { type: 'LeadAssigned', data: { leadId, ownerId: 'bob' } },
      { type: 'LeadQualified', data: { leadId, rank: 'MQL', criteria: { need: true, budget: false, authority: false, timing: false } } },
      { type: 'LeadDetailsUpdated', data: { leadId, campaign: 'spring', interest: { product: 'Shelving' } } },
      disqualified,
      { type: 'LeadScored', data: { leadId, score: 1, rulesVersion: 'v1', breakdown: [] } },
      rescored(1, 0, []),
      { type: 'AccountOpened', data: { accountId: 'a-1' } },
    ];
    expect(unscored.filter(changesScoredFacts)).toEqual([]);
  });
});
