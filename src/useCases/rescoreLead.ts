/**
 * Scores one lead again, outside any request on the lead: the lead scorer does it for each fact
 * that changes what the rules read, a re-scoring job for each open lead. The score goes on the
 * lead's score stream (`leadscore-<id>`), so the lead's revision, which clients hold as their
 * `expectedRevision`, never moves. Idempotent per cause: the event's id derives from what caused
 * it (the lead's event, or the job), so redoing it after a crash or from an older checkpoint
 * finds it recorded and writes nothing twice.
 */
import { decideEvents, readStreamOrEmpty, type CommandContext } from '../core/commandHandler';
import { foldEvents } from '../core/decider';
import { ConcurrencyConflictError, NO_STREAM, type EventStore, type GlobalPosition, type RecordedEvent, type StreamAppend } from '../core/eventStore';
import { deterministicId } from '../core/ids';
import { evolveLead, initialLeadState, leadStreamId, type LeadEvent, type LeadScored, type LeadState } from '../domain/leads/lead';
import { isScorable } from '../domain/scoring/decide';
import { leadRescoringDecider, leadScoreStreamId, type LeadRescored, type RescoreLead, type RescoreReason } from '../domain/scoring/rescore';
import type { ScoringRules } from '../domain/scoring/rules';
import { rulesOfVersion } from './scoringRulesStore';

const MAX_ATTEMPTS = 10;
export const RESCORE_COMMAND = 'RescoreLead';

export interface RescoreRequest {
  leadId: string;
  reason: RescoreReason;
  rules: ScoringRules;
  /** What caused it: the lead's event the scorer follows, or the job. The event's id derives from it. */
  causationId: string;
  actor: string;
  correlationId: string;
  now: Date;
  /** Runs before a score is recorded, not when nothing is: where the rules get published. */
  beforeRecording?: () => Promise<void>;
  /**
   * Both streams as the caller already holds them (the lead scorer, from what the log delivered),
   * read instead of the store on the first attempt. They may lag the store, never contradict it:
   * a lead behind a recorded score decides nothing, and a score stream behind the store makes the
   * append conflict, after which both streams are read from the store.
   */
  known?: KnownStreams;
}

export interface KnownStreams {
  leadEvents: readonly RecordedEvent[];
  scores: readonly RecordedEvent[];
}

/**
 * `rescored`: a score was recorded, now or by an earlier run for the same cause; `unchanged`: the
 * latest score already is this one; `skipped`: the lead is not scored (converted, disqualified,
 * or unknown).
 */
export interface RescoreOutcome {
  kind: 'rescored' | 'unchanged' | 'skipped';
  /** The score's position in the log, when one was recorded for this cause. */
  position?: GlobalPosition;
}

/** The score already recorded for this request's cause, if any (a redo finds it). */
const recordedFor = (scores: readonly RecordedEvent[], request: Pick<RescoreRequest, 'causationId'>): RecordedEvent | undefined =>
  scores.find((event) => event.metadata.causationId === request.causationId && event.metadata.commandType === RESCORE_COMMAND);

/**
 * What scoring the lead again would do, from its two streams as given: nothing to append
 * (`outcome`: recorded already, skipped or unchanged), or the append to make (`record`). Reads
 * nothing but, when the lead's latest score is of other rules, those rules' definition.
 */
export type RescorePlan = { outcome: RescoreOutcome } | { record: StreamAppend };

export const planRescore = async (
  store: EventStore,
  request: RescoreRequest,
  { leadEvents, scores }: KnownStreams,
): Promise<RescorePlan> => {
  const { leadId, rules } = request;
  const done = recordedFor(scores, request);
  if (done) return { outcome: { kind: 'rescored', position: done.position } };
  const lead = foldLead(leadEvents);
  if (!isScorable(lead)) return { outcome: { kind: 'skipped' } };
  const currentScore = latestScore(store, leadEvents, scores);
  const currentScoreRules =
    currentScore === undefined || currentScore.rulesVersion === rules.version ? undefined : await rulesOfVersion(store, currentScore.rulesVersion);
  const command: RescoreLead = {
    type: 'RescoreLead',
    data: { leadId, reason: request.reason, rules, lead, leadRevision: leadEvents.length - 1, currentScore, currentScoreRules },
  };
  const context: CommandContext = {
    actor: request.actor,
    now: request.now,
    commandId: deterministicId(request.causationId, RESCORE_COMMAND, leadId),
    commandType: RESCORE_COMMAND,
    correlationId: request.correlationId,
    causationId: request.causationId,
  };
  const state = foldEvents(leadRescoringDecider, scores as unknown as LeadRescored[]);
  const decision = decideEvents(leadRescoringDecider, state, command, context, scores.at(-1)?.metadata);
  if (decision === undefined) return { outcome: { kind: 'unchanged' } };
  const expectedRevision = scores.length === 0 ? NO_STREAM : scores.length - 1;
  return { record: { streamId: leadScoreStreamId(leadId), events: decision.newEvents, expectedRevision } };
};

export const rescoreLead = async (store: EventStore, request: RescoreRequest): Promise<RescoreOutcome> => {
  for (let attempt = 1; ; attempt++) {
    const known = attempt === 1 ? request.known : undefined;
    // The score stream first: the lead read after it is at least as recent as every score on it.
    const scores = known ? known.scores : await readStreamOrEmpty(store, leadScoreStreamId(request.leadId));
    // A redo (from an older checkpoint) finds its score here, without reading the lead.
    const done = recordedFor(scores, request);
    if (done) return { kind: 'rescored', position: done.position };
    const leadEvents = known ? known.leadEvents : await readStreamOrEmpty(store, leadStreamId(request.leadId));
    const plan = await planRescore(store, request, { leadEvents, scores });
    if ('outcome' in plan) return plan.outcome;
    await request.beforeRecording?.();
    try {
      const appended = await store.appendToStream(plan.record.streamId, plan.record.events, { expectedRevision: plan.record.expectedRevision });
      return { kind: 'rescored', position: appended.position };
    } catch (error) {
      // Another run scored the lead meanwhile (the scorer and a job): read both streams again.
      if (!(error instanceof ConcurrencyConflictError) || attempt >= MAX_ATTEMPTS) throw error;
    }
  }
};

const foldLead = (events: readonly RecordedEvent[]): LeadState =>
  foldEvents({ evolve: evolveLead, initialState: initialLeadState }, events as unknown as LeadEvent[]);

type ScoreEvent = RecordedEvent<'LeadScored', LeadScored['data']> | RecordedEvent<'LeadRescored', LeadRescored['data']>;

/**
 * The lead's latest score in the log's order, as the leads read model shows it: its own last
 * `LeadScored` or the last `LeadRescored` of its score stream, whichever was recorded later.
 */
export const latestScoreEvent = (
  store: Pick<EventStore, 'comparePositions'>,
  leadEvents: readonly RecordedEvent[],
  scoreEvents: readonly RecordedEvent[],
): ScoreEvent | undefined => {
  const manual = leadEvents.filter((event) => event.type === 'LeadScored').at(-1) as ScoreEvent | undefined;
  const automatic = scoreEvents.at(-1) as ScoreEvent | undefined;
  if (manual === undefined || automatic === undefined) return manual ?? automatic;
  return store.comparePositions(automatic.position, manual.position) > 0 ? automatic : manual;
};

export const latestScore = (
  store: Pick<EventStore, 'comparePositions'>,
  leadEvents: readonly RecordedEvent[],
  scoreEvents: readonly RecordedEvent[],
): { value: number; rulesVersion: string } | undefined => {
  const latest = latestScoreEvent(store, leadEvents, scoreEvents);
  return latest && { value: latest.data.score, rulesVersion: latest.data.rulesVersion };
};

/** The lead's automatic scores, oldest first ([] when it has none). */
export const readAutomaticScores = (store: EventStore, leadId: string): Promise<RecordedEvent[]> =>
  readStreamOrEmpty(store, leadScoreStreamId(leadId));
