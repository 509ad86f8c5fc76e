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
 * to that revision and gets the same score again.
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

export type RescoreLead = {
  type: 'RescoreLead';
  data: {
    leadId: string;
    rules: ScoringRules;
    /** The lead folded from its stream, and the revision of the last event folded. */
    lead: LeadState;
    leadRevision: number;
    /** The lead's score now: the latest recorded in the log's order, on either stream (none yet: absent). */
    currentScore?: { value: number; rulesVersion: string };
  };
};

/**
 * Records the lead's score unless it would not change anything: the lead is not scored any more
 * (converted, disqualified), this version already gave it this score, or a score of a later
 * revision of the lead is already recorded (never go back to an older state).
 */
export const decideRescoreLead = ({ data }: RescoreLead, state: LeadScoreState): LeadRescored[] => {
  const { leadId, rules, lead, leadRevision, currentScore } = data;
  if (!isScorable(lead)) return [];
  if (state.basedOnRevision !== undefined && state.basedOnRevision > leadRevision) return [];
  const { score, breakdown } = scoreLeadWith(rules, lead);
  if (currentScore?.rulesVersion === rules.version && currentScore.value === score) return [];
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
