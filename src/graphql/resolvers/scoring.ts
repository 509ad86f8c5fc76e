/** Lead scoring over GraphQL: score one lead, re-score every open one, reproduce a past score. */
import { Arg, Authorized, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import { workableLeadIds } from '../../../projections/leads/leadsQueries';
import { getLead } from '../../../projections/leads/leadView';
import { handleCommand, type CommandContext } from '../../core/commandHandler';
import { InvalidTransitionError } from '../../core/errors';
import type { EventStore, GlobalPosition } from '../../core/eventStore';
import { deterministicId, digest } from '../../core/ids';
import { leadStreamId } from '../../domain/leads/lead';
import { leadScoringDecider, type ScoreLead } from '../../domain/scoring/decide';
import { publishedRulesDecider, SCORING_RULES_STREAM } from '../../domain/scoring/publishedRules';
import { rulesHash, type ScoringRules } from '../../domain/scoring/rules';
import { leadAtRevision } from '../../useCases/atRevision';
import { reproduceScore } from '../../useCases/reproduceScore';
import { publishedRules } from '../../useCases/scoringRulesStore';
import type { GraphQLContext } from '../shared/context';
import { commandContextFor, runCommand } from '../shared/runCommand';
import { DateTimeScalar } from '../shared/scalars';
import {
  RescoreOpenLeadsInput,
  RescoreOpenLeadsPayload,
  ScoreLeadInput,
  ScoreLeadPayload,
  ScoreReproduction,
  ScoringRulesVersion,
} from '../types/scoring';
import { toLead } from './leads';

/** Leads re-scored between two waits for the read models, so they never fall far behind. */
const RESCORE_BATCH = 500;
const RESCORE_READ_MODEL_TIMEOUT_MS = 60_000;

@Authorized()
@Resolver()
export class ScoringResolver {
  @Mutation(() => ScoreLeadPayload, { description: 'Scores the lead with the current rules (CRM_SCORING_FILE)' })
  async scoreLead(@Arg('input', () => ScoreLeadInput) input: ScoreLeadInput, @Ctx() context: GraphQLContext) {
    const rules = context.app.scoringRules;
    await publishOnFirstUse(context, rules);
    const { leadId } = input;
    const command: ScoreLead = { type: 'ScoreLead', data: { leadId, rules } };
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
    const view =
      current?.revision === result.revision ? current : await leadAtRevision(context.app.store, leadId, result.revision);
    if (!view) throw new Error(`Lead ${leadId} is missing from the read model after scoring`);
    return { lead: toLead(view, context) };
  }

  @Mutation(() => RescoreOpenLeadsPayload, {
    description:
      'Scores every open lead (not converted, not disqualified) with the current rules; a lead already ' +
      'scored alike by this rules version gets nothing new, so running it again is harmless',
  })
  async rescoreOpenLeads(
    @Ctx() context: GraphQLContext,
    @Arg('input', () => RescoreOpenLeadsInput, { nullable: true }) input?: RescoreOpenLeadsInput,
  ): Promise<RescoreOpenLeadsPayload> {
    const rules = context.app.scoringRules;
    await publishOnFirstUse(context, rules);
    const parent = commandContextFor(context, 'RescoreOpenLeads', { idempotencyKey: input?.idempotencyKey ?? undefined });
    const result = { rulesVersion: rules.version, examined: 0, rescored: 0, unchanged: 0, skipped: 0 };
    let last: GlobalPosition | undefined;
    for (let after: string | undefined; ; ) {
      const ids = await workableLeadIds(context.app.readDb, { after, first: RESCORE_BATCH });
      if (ids.length === 0) break;
      for (const leadId of ids) {
        result.examined++;
        const outcome = await scoreOne(context, parent, rules, leadId);
        result[outcome.kind]++;
        if (outcome.position !== undefined && (last === undefined || context.app.store.comparePositions(outcome.position, last) > 0)) {
          last = outcome.position;
        }
      }
      if (last !== undefined) await context.app.readModels.waitForPosition(last, RESCORE_READ_MODEL_TIMEOUT_MS);
      after = ids.at(-1);
    }
    return result;
  }

  @Query(() => ScoreReproduction, {
    nullable: true,
    description:
      "Recomputes the lead's last score recorded at or before `at` (the latest without it) from the rules " +
      'version named on it and the events before it. Null when there is no such score',
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

/** The rules this process has seen published, per store: each store's stream is read once. */
const knownPublished = new WeakMap<EventStore, WeakSet<ScoringRules>>();

const publishOnFirstUse = async (context: GraphQLContext, rules: ScoringRules): Promise<void> => {
  const known = knownPublished.get(context.app.store) ?? new WeakSet<ScoringRules>();
  if (known.has(rules)) return;
  await handleCommand(
    context.app.store,
    publishedRulesDecider,
    SCORING_RULES_STREAM,
    { type: 'PublishScoringRules', data: { rules } },
    commandContextFor(context, 'PublishScoringRules', {}),
  );
  knownPublished.set(context.app.store, known.add(rules));
};

type ScoreOutcome = { kind: 'rescored' | 'unchanged' | 'skipped'; position?: GlobalPosition };

const scoreOne = async (
  context: GraphQLContext,
  parent: CommandContext,
  rules: ScoringRules,
  leadId: string,
): Promise<ScoreOutcome> => {
  try {
    const result = await handleCommand(
      context.app.store,
      leadScoringDecider,
      leadStreamId(leadId),
      { type: 'ScoreLead', data: { leadId, rules } },
      // Derived from the request's command id, so a retried request with the same key writes nothing
      // twice; the id is already bound to this lead's stream, so no key record is needed per lead.
      {
        ...parent,
        commandId: deterministicId(parent.commandId, leadId),
        commandType: 'ScoreLead',
        idempotencyKey: undefined,
        inputHash: undefined,
      },
      { existingEntity: { type: 'Lead', id: leadId } },
    );
    const recorded = result.newEvents.length > 0;
    return { kind: recorded ? 'rescored' : 'unchanged', position: recorded ? result.position : undefined };
  } catch (error) {
    // Converted or disqualified since the list was read: no longer open, not scored.
    if (error instanceof InvalidTransitionError) return { kind: 'skipped' };
    throw error;
  }
};
