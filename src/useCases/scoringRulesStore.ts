/**
 * The versions of the scoring rules published on the `scoring-rules` stream: reading them, and
 * publishing the rules in use before their first score (by a request or a background process).
 */
import { handleCommand, readStreamOrEmpty, type CommandContext } from '../core/commandHandler';
import type { EventStore } from '../core/eventStore';
import {
  RulesVersionReusedError,
  SCORING_RULES_STREAM,
  evolvePublishedRules,
  publishedRulesDecider,
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

/** Versions already read, per store: a version's definition never changes once published. */
const versionsRead = new WeakMap<EventStore, Map<string, ScoringRules>>();

/** The definition of a published version (undefined when it was never published). */
export const rulesOfVersion = async (store: EventStore, version: string): Promise<ScoringRules | undefined> => {
  const known = versionsRead.get(store) ?? new Map<string, ScoringRules>();
  versionsRead.set(store, known);
  if (!known.has(version)) {
    for (const [name, { rules }] of await publishedRules(store)) known.set(name, rules);
  }
  return known.get(version);
};

/** The rules this process has seen published, per store: each store's stream is read once. */
const knownPublished = new WeakMap<EventStore, WeakSet<ScoringRules>>();

/**
 * Records the definition of `rules` on the `scoring-rules` stream unless it is there already, so
 * that every score given by them can be reproduced; call it before recording such a score.
 */
export const publishRulesOnFirstUse = async (
  store: EventStore,
  rules: ScoringRules,
  context: Omit<CommandContext, 'commandType'>,
): Promise<void> => {
  const known = knownPublished.get(store) ?? new WeakSet<ScoringRules>();
  if (known.has(rules)) return;
  await handleCommand(store, publishedRulesDecider, SCORING_RULES_STREAM, { type: 'PublishScoringRules', data: { rules } }, {
    ...context,
    commandType: 'PublishScoringRules',
  });
  knownPublished.set(store, known.add(rules));
};
