/** Reads the versions of the scoring rules published on the `scoring-rules` stream. */
import { readStreamOrEmpty } from '../core/commandHandler';
import type { EventStore } from '../core/eventStore';
import {
  RulesVersionReusedError,
  SCORING_RULES_STREAM,
  evolvePublishedRules,
  type PublishedRulesState,
  type ScoringRulesPublished,
} from '../domain/scoring/publishedRules';
import { rulesHash, type ScoringRules } from '../domain/scoring/rules';

export const publishedRules = async (store: EventStore): Promise<PublishedRulesState> =>
  ((await readStreamOrEmpty(store, SCORING_RULES_STREAM)) as unknown as ScoringRulesPublished[]).reduce(
    evolvePublishedRules,
    new Map() as PublishedRulesState,
  );

/**
 * Run at start: rules whose version already gave scores under another definition would make
 * those scores unreproducible, so the server refuses them before serving anything.
 */
export const refuseReusedRulesVersion = async (store: EventStore, rules: ScoringRules): Promise<void> => {
  const published = (await publishedRules(store)).get(rules.version);
  if (published !== undefined && published.hash !== rulesHash(rules)) throw new RulesVersionReusedError(rules.version);
};
