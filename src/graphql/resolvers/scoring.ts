/**
 * Lead scoring over GraphQL: score one lead, start a re-scoring of every open one (a background
 * job) and follow it, reproduce a past score, show the rules. Scores between these requests are
 * given by the lead scorer (`src/useCases/leadScorer.ts`), which follows the log.
 */
import { Arg, Authorized, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import { getLead } from '../../../projections/leads/leadView';
import { readStreamOrEmpty } from '../../core/commandHandler';
import { deterministicId, digest, newId } from '../../core/ids';
import { leadStreamId } from '../../domain/leads/lead';
import { leadScoringDecider, type ScoreLead } from '../../domain/scoring/decide';
import type { LeadRescored } from '../../domain/scoring/rescore';
import { rulesHash, type ScoringRules } from '../../domain/scoring/rules';
import { leadAtRevision, leadRowIsAt } from '../../useCases/atRevision';
import { reproduceScore } from '../../useCases/reproduceScore';
import { latestScoreEvent, readAutomaticScores } from '../../useCases/rescoreLead';
import { publishedRules, publishRulesOnFirstUse } from '../../useCases/scoringRulesStore';
import type { GraphQLContext } from '../shared/context';
import { commandContextFor, requireActor, runCommand } from '../shared/runCommand';
import { DateTimeScalar } from '../shared/scalars';
import {
  RescoreOpenLeadsInput,
  RescoreOpenLeadsPayload,
  ScoreLeadInput,
  ScoreLeadPayload,
  ScoreReproduction,
  ScoringJob,
  ScoringRulesVersion,
  toScoringJob,
} from '../types/scoring';
import { toLead } from './leads';

@Authorized()
@Resolver()
export class ScoringResolver {
  @Mutation(() => ScoreLeadPayload, { description: 'Scores the lead with the current rules (CRM_SCORING_FILE)' })
  async scoreLead(@Arg('input', () => ScoreLeadInput) input: ScoreLeadInput, @Ctx() context: GraphQLContext) {
    const rules = context.app.scoringRules;
    await publishOnFirstUse(context, rules);
    const { leadId } = input;
    const command: ScoreLead = { type: 'ScoreLead', data: { leadId, rules, latestAutomaticScore: await latestAutomaticScore(context, leadId) } };
    const sent = { leadId, expectedRevision: input.expectedRevision ?? undefined, idempotencyKey: input.idempotencyKey ?? undefined };
    const result = await runCommand(context, {
      decider: leadScoringDecider,
      streamId: leadStreamId(leadId),
      command,
      commandType: command.type,
      input: sent,
      existingEntity: { type: 'Lead', id: leadId },
    });
    // The lead as this scoring left it, even if another write landed since (see mutate()).
    const current = await getLead(context.app.readDb, leadId);
    const at = result.position === undefined ? undefined : { revision: result.revision, position: result.position };
    const view =
      current !== undefined && (at === undefined ? current.revision === result.revision : leadRowIsAt(context.app.store, current, at))
        ? current
        : await leadAtRevision(context.app.store, leadId, result.revision);
    if (!view) throw new Error(`Lead ${leadId} is missing from the read model after scoring`);
    return { lead: toLead(view, context) };
  }

  @Mutation(() => RescoreOpenLeadsPayload, {
    description:
      'Starts re-scoring every open lead (not converted, not disqualified) with the current rules, in the background, ' +
      'and answers at once with the job (follow it with scoringJob). A lead whose latest score already is this ' +
      'version’s gets nothing new, so running it again is harmless; while a job for this version runs, it is the answer',
  })
  async rescoreOpenLeads(
    @Ctx() context: GraphQLContext,
    @Arg('input', () => RescoreOpenLeadsInput, { nullable: true }) input?: RescoreOpenLeadsInput,
  ): Promise<RescoreOpenLeadsPayload> {
    const rules = context.app.scoringRules;
    await publishOnFirstUse(context, rules);
    const key = input?.idempotencyKey ?? undefined;
    const actor = requireActor(context);
    const job = await context.app.scoringJobs.start({
      // The same key (of the same user) names the same job: asking again answers it.
      id: key === undefined ? newId() : deterministicId(actor, 'RescoreOpenLeads', key),
      rules,
      startedBy: actor,
      correlationId: context.correlationId,
      now: context.requestTime,
    });
    const { examined, rescored, unchanged, skipped } = job;
    return { job: toScoringJob(job), rulesVersion: job.rulesVersion, examined, rescored, unchanged, skipped };
  }

  @Query(() => ScoringJob, { nullable: true, description: 'A re-scoring job, with its progress; null when there is none with this id' })
  async scoringJob(@Arg('id', () => ID) id: string, @Ctx() context: GraphQLContext): Promise<ScoringJob | undefined> {
    const job = await context.app.scoringJobs.get(id);
    return job && toScoringJob(job);
  }

  @Query(() => ScoreReproduction, {
    nullable: true,
    description:
      "Recomputes the lead's last score recorded at or before `at` (the latest without it), its own or an automatic one, " +
      'from the rules version named on it and the lead\'s events it was computed from. Null when there is no such score',
  })
  async reproduceScore(
    @Arg('leadId', () => ID) leadId: string,
    @Ctx() context: GraphQLContext,
    @Arg('at', () => DateTimeScalar, { nullable: true }) at?: Date,
  ): Promise<ScoreReproduction | undefined> {
    const reproduction = await reproduceScore(context.app.store, leadId, at ?? undefined);
    if (!reproduction) return undefined;
    const { recordedScore, recordedBreakdown, reproducedScore, reproducedBreakdown } = reproduction;
    return {
      ...reproduction,
      scoredAt: new Date(reproduction.scoredAt),
      matches: recordedScore === reproducedScore && digest(recordedBreakdown) === digest(reproducedBreakdown),
    };
  }

  @Query(() => ScoringRulesVersion, {
    nullable: true,
    description: 'The rules in use, or a version that has given scores (null if none has that version)',
  })
  async scoringRules(
    @Ctx() context: GraphQLContext,
    @Arg('version', () => String, { nullable: true }) version?: string,
  ): Promise<ScoringRulesVersion | undefined> {
    const current = context.app.scoringRules;
    const rules =
      version === undefined || version === null || version === current.version
        ? current
        : (await publishedRules(context.app.store)).get(version)?.rules;
    return rules && { version: rules.version, hash: rulesHash(rules), definition: rules };
  }
}

const publishOnFirstUse = (context: GraphQLContext, rules: ScoringRules): Promise<void> =>
  publishRulesOnFirstUse(context.app.store, rules, commandContextFor(context, 'PublishScoringRules', {}));

/** The lead's automatic score, when it is its latest (recorded after the lead's own last one). */
const latestAutomaticScore = async (context: GraphQLContext, leadId: string) => {
  const [events, automatic] = await Promise.all([
    readStreamOrEmpty(context.app.store, leadStreamId(leadId)),
    readAutomaticScores(context.app.store, leadId),
  ]);
  const latest = latestScoreEvent(context.app.store, events, automatic);
  if (latest?.type !== 'LeadRescored') return undefined;
  const { score, rulesVersion } = latest.data as LeadRescored['data'];
  return { value: score, rulesVersion };
};
