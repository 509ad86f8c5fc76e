/**
 * Recomputes a recorded score from what it was computed from: the lead's events before it, and
 * the definition of the rules version named on it, as published on the `scoring-rules` stream.
 */
import { readStreamOrEmpty } from '../core/commandHandler';
import { foldEvents } from '../core/decider';
import type { EventStore, RecordedEvent } from '../core/eventStore';
import { leadStreamId, type LeadEvent, type LeadScored, type ScoreContribution } from '../domain/leads/lead';
import { leadScoringDecider } from '../domain/scoring/decide';
import { SCORING_RULES_STREAM } from '../domain/scoring/publishedRules';
import { publishedRules } from './scoringRulesStore';
import { scoreLeadWith } from '../domain/scoring/score';

export interface ScoreReproduction {
  leadId: string;
  rulesVersion: string;
  /** When the score was recorded. */
  scoredAt: string;
  recordedScore: number;
  recordedBreakdown: ScoreContribution[];
  reproducedScore: number;
  reproducedBreakdown: ScoreContribution[];
}

/**
 * The last score recorded at or before `at` (the latest when absent), recomputed. Undefined when
 * the lead has no such score.
 */
export const reproduceScore = async (
  store: EventStore,
  leadId: string,
  at?: Date,
): Promise<ScoreReproduction | undefined> => {
  const events = await readStreamOrEmpty(store, leadStreamId(leadId));
  const isScoreBy = (event: RecordedEvent) =>
    event.type === 'LeadScored' && (at === undefined || Date.parse(event.metadata.recordedAt) <= at.getTime());
  let index = events.length - 1;
  while (index >= 0 && !isScoreBy(events[index]!)) index--;
  if (index < 0) return undefined;
  const scored = events[index] as RecordedEvent<'LeadScored', LeadScored['data']>;
  const rules = (await publishedRules(store)).get(scored.data.rulesVersion)?.rules;
  if (rules === undefined) {
    throw new Error(`Scoring rules version ${scored.data.rulesVersion} is missing from the ${SCORING_RULES_STREAM} stream`);
  }
  const before = foldEvents(leadScoringDecider, events.slice(0, index) as unknown as LeadEvent[]);
  if (before.status === 'NONE') throw new Error(`Lead ${leadId} was scored before it was captured`);
  const reproduced = scoreLeadWith(rules, before);
  return {
    leadId,
    rulesVersion: scored.data.rulesVersion,
    scoredAt: new Date(scored.metadata.recordedAt).toISOString(),
    recordedScore: scored.data.score,
    recordedBreakdown: scored.data.breakdown,
    reproducedScore: reproduced.score,
    reproducedBreakdown: reproduced.breakdown,
  };
};
