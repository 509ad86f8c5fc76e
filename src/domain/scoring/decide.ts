/**
 * Scoring a lead is a decision on the lead's stream, folded with the lead's own `evolve`: the
 * score is computed from the state the command sees, so a retry after a concurrent write
 * scores what is there, and scoring again with the same rules and the same result records
 * nothing (which makes re-scoring every open lead idempotent per rules version).
 */
import type { Decider } from '../../core/decider';
import { InvalidTransitionError, NotFoundError } from '../../core/errors';
import { evolveLead, initialLeadState, type LeadEvent, type LeadScored, type LeadState } from '../leads/lead';
import type { ScoringRules } from './rules';
import { scoreLeadWith } from './score';

export type ScoreLead = { type: 'ScoreLead'; data: { leadId: string; rules: ScoringRules } };

/** Only leads still being worked are scored: a converted or disqualified one has no next step. */
const SCORABLE = new Set<string>(['NEW', 'CONTACTED', 'QUALIFIED']);

export const decideScoreLead = ({ data: { leadId, rules } }: ScoreLead, state: LeadState): LeadScored[] => {
  if (state.status === 'NONE') throw new NotFoundError('Lead', leadId);
  if (!SCORABLE.has(state.status)) {
    throw new InvalidTransitionError(state.status, `A ${state.status.toLowerCase()} lead is not scored`);
  }
  const { score, breakdown } = scoreLeadWith(rules, state);
  if (state.score?.rulesVersion === rules.version && state.score.value === score) return [];
  return [{ type: 'LeadScored', data: { leadId, score, rulesVersion: rules.version, breakdown } }];
};

export const leadScoringDecider: Decider<LeadState, ScoreLead, LeadEvent> = {
  decide: decideScoreLead,
  evolve: evolveLead,
  initialState: initialLeadState,
};
