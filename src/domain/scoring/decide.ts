/**
 * Scoring a lead is a decision on the lead's stream, folded with the lead's own `evolve`: the
 * score is computed from the state the command sees, so a retry after a concurrent write
 * scores what is there, and scoring again with the same rules and the same result records
 * nothing (which makes re-scoring every open lead idempotent per rules version). The lead's latest
 * score may be an automatic one, kept on another stream (`rescore.ts`): the caller then says so.
 */
import type { Decider } from '../../core/decider';
import { InvalidTransitionError, NotFoundError } from '../../core/errors';
import { evolveLead, initialLeadState, type ExistingLead, type LeadEvent, type LeadScored, type LeadState } from '../leads/lead';
import type { ScoringRules } from './rules';
import { scoreLeadWith } from './score';

export type ScoreLead = {
  type: 'ScoreLead';
  data: {
    leadId: string;
    rules: ScoringRules;
    /**
     * The lead's latest score when it is an automatic one (`LeadRescored`, on the lead's score
     * stream) recorded after its last `LeadScored`: then it, not the lead's own, is the score to
     * compare with. Absent when the lead's own last score is the latest, or there is none.
     */
    latestAutomaticScore?: { value: number; rulesVersion: string };
  };
};

/** Only leads still being worked are scored: a converted or disqualified one has no next step. */
const SCORABLE = new Set<string>(['NEW', 'CONTACTED', 'QUALIFIED']);

export const isScorable = (state: LeadState): state is ExistingLead => SCORABLE.has(state.status);

export const decideScoreLead = ({ data: { leadId, rules, latestAutomaticScore } }: ScoreLead, state: LeadState): LeadScored[] => {
  if (state.status === 'NONE') throw new NotFoundError('Lead', leadId);
  if (!SCORABLE.has(state.status)) {
    throw new InvalidTransitionError(state.status, `A ${state.status.toLowerCase()} lead is not scored`);
  }
  const { score, breakdown } = scoreLeadWith(rules, state);
  const current = latestAutomaticScore ?? state.score;
  if (current?.rulesVersion === rules.version && current.value === score) return [];
  return [{ type: 'LeadScored', data: { leadId, score, rulesVersion: rules.version, breakdown } }];
};

export const leadScoringDecider: Decider<LeadState, ScoreLead, LeadEvent> = {
  decide: decideScoreLead,
  evolve: evolveLead,
  initialState: initialLeadState,
};
