/**
 * Scores kept fresh without anyone asking: a lead is scored again whenever a fact the rules read
 * changes (the lead scorer, which follows the log) and when the open leads are re-scored (a job).
 * These scores go on a stream of their own per lead, `leadscore-<leadId>`, never on the lead's:
 * clients send the lead's `revision` back as `expectedRevision`, and a score appended behind
 * their back would turn their next command into a conflict. Pure: the caller reads the streams.
 */
import type { Decider } from '../../core/decider';
import type { LeadState, ScoreContribution } from '../leads/lead';
import { isScorable } from './decide';
import type { ScoringRules } from './rules';
import { scoreLeadWith } from './score';

/** Not `lead-...`: a score stream must not read as a lead's (as `leadlist-` does not). */
export const LEAD_SCORE_STREAM_PREFIX = 'leadscore-';
export const leadScoreStreamId = (leadId: string): string => `${LEAD_SCORE_STREAM_PREFIX}${leadId}`;

/**
 * A score given without a command on the lead, by a version of the rules, computed from the lead
 * as it stood at `basedOnRevision` of its own stream: `reproduceScore` folds the lead's events up
 * to that revision and gets the same score again. It carries nothing about the person (rule ids,
 * the company's labels, points), so it is not in `PERSONAL_FIELDS` and an erasure leaves it whole.
 */
export type LeadRescored = {
  type: 'LeadRescored';
  data: { leadId: string; score: number; rulesVersion: string; breakdown: ScoreContribution[]; basedOnRevision: number };
};

/** What the score stream tells about the decision to come: the lead revision of its last score. */
export interface LeadScoreState {
  basedOnRevision?: number;
}

export const evolveLeadScore = (_state: LeadScoreState, event: LeadRescored): LeadScoreState => ({
  basedOnRevision: event.data.basedOnRevision,
});

/**
 * Why the lead is scored again:
 * - `FACT`: a fact the rules read changed (the lead scorer). A score is recorded when the lead's
 *   score moves: under the rules that gave its latest score, when those are not the rules in use
 *   (after a rules change, moving every lead to the new version is the job's, not each fact's);
 * - `ALL_OPEN_LEADS`: every open lead is scored with the rules in use (a re-scoring job).
 */
export type RescoreReason = 'FACT' | 'ALL_OPEN_LEADS';

export type RescoreLead = {
  type: 'RescoreLead';
  data: {
    leadId: string;
    reason: RescoreReason;
    /** The rules in use. */
    rules: ScoringRules;
    /** The lead folded from its stream, and the revision of the last event folded. */
    lead: LeadState;
    leadRevision: number;
    /** The lead's score now: the latest recorded in the log's order, on either stream (none yet: absent). */
    currentScore?: { value: number; rulesVersion: string };
    /** The rules of `currentScore`'s version, when that is not the version in use. */
    currentScoreRules?: ScoringRules;
  };
};

/**
 * Records the lead's score with the rules in use unless nothing would change: the lead is not
 * scored any more (converted, disqualified), its latest score already is this one (for a fact: the
 * fact did not move it), or a score of a later revision of the lead is already recorded (never go
 * back to an older state). Deciding the same on the same streams, a redo records nothing new.
 */
export const decideRescoreLead = ({ data }: RescoreLead, state: LeadScoreState): LeadRescored[] => {
  const { leadId, reason, rules, lead, leadRevision, currentScore, currentScoreRules } = data;
  if (!isScorable(lead)) return [];
  if (state.basedOnRevision !== undefined && state.basedOnRevision > leadRevision) return [];
  const { score, breakdown } = scoreLeadWith(rules, lead);
  if (currentScore !== undefined) {
    if (currentScore.rulesVersion === rules.version && currentScore.value === score) return [];
    const unmoved = currentScoreRules !== undefined && scoreLeadWith(currentScoreRules, lead).score === currentScore.value;
    if (reason === 'FACT' && currentScore.rulesVersion !== rules.version && unmoved) return [];
  }
  return [{ type: 'LeadRescored', data: { leadId, score, rulesVersion: rules.version, breakdown, basedOnRevision: leadRevision } }];
};

export const leadRescoringDecider: Decider<LeadScoreState, RescoreLead, LeadRescored> = {
  decide: decideRescoreLead,
  evolve: evolveLeadScore,
  initialState: () => ({}),
};

/**
 * Whether a lead event changes what the rules read (see `score.ts`): the capture (source, job
 * title, company size and country), a contact logged (counted by channel and outcome), a quote
 * asked for, new details of the person or the company, and a recycle (a new cycle, scorable again
 * and counted afresh). An owner, a rank, notes on the interest, a disqualification or a
 * conversion change nothing a rule reads.
 */
export const changesScoredFacts = (event: { type: string; data: unknown }): boolean => {
  switch (event.type) {
    case 'LeadCaptured':
    case 'LeadContactLogged':
    case 'LeadQuoteRequested':
    case 'LeadRecycled':
      return true;
    case 'LeadDetailsUpdated': {
      const data = event.data as { person?: unknown; company?: unknown };
      return data.person !== undefined || data.company !== undefined;
    }
    default:
      return false;
  }
};
