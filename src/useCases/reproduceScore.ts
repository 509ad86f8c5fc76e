/**
 * Recomputes a recorded score from what it was computed from: the lead's events before it, and
 * the definition of the rules version named on it, as published on the `scoring-rules` stream.
 * A score is either the lead's own (`LeadScored`, asked for with `scoreLead`) or automatic
 * (`LeadRescored`, on the lead's score stream), which names the lead revision it was computed from.
 */
import { readStreamOrEmpty } from '../core/commandHandler';
import { foldEvents } from '../core/decider';
import type { EventStore, RecordedEvent } from '../core/eventStore';
import { leadStreamId, type LeadEvent, type LeadScored, type ScoreContribution } from '../domain/leads/lead';
import { leadScoringDecider } from '../domain/scoring/decide';
import { SCORING_RULES_STREAM } from '../domain/scoring/publishedRules';
import type { LeadRescored } from '../domain/scoring/rescore';
import { scoreLeadWith } from '../domain/scoring/score';
import { latestScoreEvent, readAutomaticScores } from './rescoreLead';
import { publishedRules } from './scoringRulesStore';

export interface ScoreReproduction {
  leadId: string;
  rulesVersion: string;
  /** When the score was recorded. */
  scoredAt: string;
  recordedScore: number;
  recordedBreakdown: ScoreContribution[];
  reproducedScore: number;
  reproducedBreakdown: ScoreContribution[];
  /** Recorded by the lead scorer or a re-scoring job, not by a command on the lead. */
  automatic: boolean;
  /** The revision of the lead's stream the score was computed from. */
  basedOnRevision: number;
}

/**
 * The last score recorded at or before `at` (the latest when absent), manual or automatic,
 * recomputed. Undefined when the lead has no such score.
 */
export const reproduceScore = async (
  store: EventStore,
  leadId: string,
  at?: Date,
): Promise<ScoreReproduction | undefined> => {
  const [events, automatic] = await Promise.all([readStreamOrEmpty(store, leadStreamId(leadId)), readAutomaticScores(store, leadId)]);
  const recordedBy = (event: RecordedEvent) => at === undefined || Date.parse(event.metadata.recordedAt) <= at.getTime();
  const scored = latestScoreEvent(
    store,
    events.filter((event) => event.type !== 'LeadScored' || recordedBy(event)),
    automatic.filter(recordedBy),
  );
  if (scored === undefined) return undefined;
  const rules = (await publishedRules(store)).get(scored.data.rulesVersion)?.rules;
  if (rules === undefined) {
    throw new Error(`Scoring rules version ${scored.data.rulesVersion} is missing from the ${SCORING_RULES_STREAM} stream`);
  }
  const basedOnRevision =
    scored.type === 'LeadRescored' ? (scored.data as LeadRescored['data']).basedOnRevision : scored.revision - 1;
  const before = foldEvents(leadScoringDecider, events.slice(0, basedOnRevision + 1) as unknown as LeadEvent[]);
  if (before.status === 'NONE') throw new Error(`Lead ${leadId} was scored before it was captured`);
  const reproduced = scoreLeadWith(rules, before);
  return {
    leadId,
    rulesVersion: scored.data.rulesVersion,
    scoredAt: new Date(scored.metadata.recordedAt).toISOString(),
    recordedScore: scored.data.score,
    recordedBreakdown: (scored.data as LeadScored['data']).breakdown,
    reproducedScore: reproduced.score,
    reproducedBreakdown: reproduced.breakdown,
    automatic: scored.type === 'LeadRescored',
    basedOnRevision,
  };
};
