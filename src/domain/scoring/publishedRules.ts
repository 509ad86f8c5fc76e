/**
 * Every version of the scoring rules that ever gave a score, kept on one stream: the first time
 * a version is used its whole definition is recorded, so a score can be recomputed years later
 * from the version named on it, whatever the file says by then.
 */
import type { Decider } from '../../core/decider';
import { InvalidTransitionError } from '../../core/errors';
import { rulesHash, type ScoringRules } from './rules';

export const SCORING_RULES_STREAM = 'scoring-rules';

export type ScoringRulesPublished = {
  type: 'ScoringRulesPublished';
  data: { version: string; hash: string; rules: ScoringRules };
};

export type PublishScoringRules = { type: 'PublishScoringRules'; data: { rules: ScoringRules } };

/** Version → its definition. */
export type PublishedRulesState = ReadonlyMap<string, { hash: string; rules: ScoringRules }>;

export const evolvePublishedRules = (state: PublishedRulesState, event: ScoringRulesPublished): PublishedRulesState =>
  new Map(state).set(event.data.version, { hash: event.data.hash, rules: event.data.rules });

/**
 * Publishing is idempotent for an unchanged definition. A changed one under a version already
 * used is refused: scores given by the old definition would no longer be reproducible.
 */
export const decidePublishRules = (
  { data: { rules } }: PublishScoringRules,
  state: PublishedRulesState,
): ScoringRulesPublished[] => {
  const hash = rulesHash(rules);
  const published = state.get(rules.version);
  if (published?.hash === hash) return [];
  if (published !== undefined) throw new RulesVersionReusedError(rules.version);
  return [{ type: 'ScoringRulesPublished', data: { version: rules.version, hash, rules } }];
};

export class RulesVersionReusedError extends InvalidTransitionError {
  constructor(version: string) {
    super(
      'PUBLISHED',
      `Scoring rules version ${version} was already used with a different definition: ` +
        'give the changed rules a new "version" in CRM_SCORING_FILE',
    );
  }
}

export const publishedRulesDecider: Decider<PublishedRulesState, PublishScoringRules, ScoringRulesPublished> = {
  decide: decidePublishRules,
  evolve: evolvePublishedRules,
  initialState: () => new Map(),
};
