import { describe, expect, it } from 'vitest';
import { InvalidTransitionError, NotFoundError } from '../../core/errors';
import { deciderSpecification } from '../../core/testing/deciderSpecification';
import type { LeadEvent } from '../leads/lead';
import { leadScoringDecider, type ScoreLead } from './decide';
import { publishedRulesDecider, RulesVersionReusedError } from './publishedRules';
import { parseScoringRules, rulesHash } from './rules';

const leadId = 'lead-1';
const rulesV1 = parseScoringRules({
  version: 'v1',
  rules: [
    { id: 'referral', points: 20, when: { source: ['REFERRAL'] } },
    { id: 'reached', points: 10, count: { action: 'CONTACT', outcomes: ['REACHED'] } },
  ],
});
const rulesV2 = parseScoringRules({ version: 'v2', rules: [{ id: 'referral', points: 50, when: { source: ['REFERRAL'] } }] });

const captured: LeadEvent = { type: 'LeadCaptured', data: { leadId, source: 'REFERRAL', person: { lastName: 'Puig' } } };
const reached: LeadEvent = { type: 'LeadContactLogged', data: { leadId, channel: 'CALL', outcome: 'REACHED' } };
const score = (rules = rulesV1): ScoreLead => ({ type: 'ScoreLead', data: { leadId, rules } });
const scored = (value: number, rulesVersion: string, breakdown: Extract<LeadEvent, { type: 'LeadScored' }>['data']['breakdown']): LeadEvent => ({
  type: 'LeadScored',
  data: { leadId, score: value, rulesVersion, breakdown },
});

describe('ScoreLead', () => {
  const given = deciderSpecification(leadScoringDecider);

  it('records the score, the rules version and why', () => {
    given([captured, reached])
      .when(score())
      .then([
        scored(30, 'v1', [
          { ruleId: 'referral', points: 20 },
          { ruleId: 'reached', points: 10, count: 1 },
        ]),
      ]);
  });

  it('records nothing when this version already gave this score', () => {
    given([captured, scored(20, 'v1', [{ ruleId: 'referral', points: 20 }])]).when(score()).thenNothingHappened();
  });

  it('records a new score when the lead has done more since', () => {
    given([captured, scored(20, 'v1', [{ ruleId: 'referral', points: 20 }]), reached])
      .when(score())
      .then([scored(30, 'v1', [{ ruleId: 'referral', points: 20 }, { ruleId: 'reached', points: 10, count: 1 }])]);
  });

  it('records the score of a new rules version even when the number is the same', () => {
    const sameNumber = scored(50, 'v1', [{ ruleId: 'referral', points: 50 }]);
    given([captured, sameNumber]).when(score(rulesV2)).then([scored(50, 'v2', [{ ruleId: 'referral', points: 50 }])]);
  });

  it('does not score a converted or disqualified lead, nor one that does not exist', () => {
    const disqualified: LeadEvent = { type: 'LeadDisqualified', data: { leadId, reason: 'NO_NEED', statusBefore: 'NEW' } };
    given([captured, disqualified])
      .when(score())
      .thenThrows(InvalidTransitionError, (error) => expect(error.state).toBe('DISQUALIFIED'));
    given([]).when(score()).thenThrows(NotFoundError);
  });
});

describe('PublishScoringRules', () => {
  const given = deciderSpecification(publishedRulesDecider);
  const published = (rules = rulesV1) => ({
    type: 'ScoringRulesPublished' as const,
    data: { version: rules.version, hash: rulesHash(rules), rules },
  });

  it('keeps the whole definition of a version the first time it is used', () => {
    given([]).when({ type: 'PublishScoringRules', data: { rules: rulesV1 } }).then([published()]);
  });

  it('records nothing for a version already kept with the same definition', () => {
    given([published()]).when({ type: 'PublishScoringRules', data: { rules: rulesV1 } }).thenNothingHappened();
  });

  it('refuses a changed definition under a version already used', () => {
    const changed = { ...rulesV2, version: 'v1' };
    given([published()])
      .when({ type: 'PublishScoringRules', data: { rules: changed } })
      .thenThrows(RulesVersionReusedError, (error) => expect(error.message).toContain('new "version"'));
  });
});
