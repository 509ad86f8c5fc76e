/**
 * What every seed story shares. The life of one generated lead is told as the commands a sales
 * team would send, each at its moment: capture, contact attempts, qualification, then a
 * disqualification (perhaps recycled months later) or a conversion, and the opportunity's way
 * through the pipeline to a win or a loss (and now and then a reopen). A story is a generator:
 * it yields its next command and resumes once that command has run, so thousands of stories
 * interleave in time order. The lead's part is `leadStory.ts`, the opportunity's
 * `opportunityStory.ts`; this module holds the world they draw from, the step they yield, and
 * the clock's office hours.
 */
import type { ConversionRequest } from '../domain/leads/conversion';
import type { LeadCommand } from '../domain/leads/decide';
import type { OpportunityCommand } from '../domain/opportunities/decide';
import type { Random } from './random';
import type { GeneratedCompany } from './data';

export interface StoryWorld {
  seed: number;
  team: readonly string[];
  /** The pipeline's stage codes, first to last. */
  stages: readonly string[];
  disqualificationReasons: readonly string[];
  lossReasons: readonly string[];
  companyCount: number;
  company(index: number): GeneratedCompany;
}

/** A conversion whose account is chosen when it runs: a company may have converted meanwhile. */
export interface PlannedConversion {
  request: Omit<ConversionRequest, 'account'>;
  b2b?: { companyIndex: number };
  b2c?: { groupingKey: string };
}

export type SeedStep = {
  at: number;
  /** Set when the fact is recorded after it happened (a call logged the next morning). */
  occurredAt?: number;
  actor: string;
  commandId: string;
  correlationId: string;
} & (
  | { target: 'lead'; command: LeadCommand }
  | { target: 'opportunity'; command: OpportunityCommand }
  | { target: 'conversion'; conversion: PlannedConversion }
);

export type Story = Generator<SeedStep, void, void>;

export const DAY = 86_400_000;
export const HOUR = 3_600_000;

/** Moves a time forward into office hours: Monday to Friday, 08:00 to 19:00 UTC. */
export const officeHours = (time: number): number => {
  let at = time;
  for (;;) {
    const date = new Date(at);
    const weekday = date.getUTCDay();
    const hour = date.getUTCHours();
    const startOfDay = at - (at % DAY);
    if (weekday === 0 || weekday === 6 || hour >= 19) at = startOfDay + DAY + 8 * HOUR + (at % HOUR);
    else if (hour < 8) at = startOfDay + 8 * HOUR + (at % HOUR);
    else return at;
  }
};

/** A code of the catalog: weighted for the codes we know, evenly for a company's own. */
export const reasonFrom = (random: Random, catalog: readonly string[], weights: Record<string, number>): string => {
  const known = Object.fromEntries(Object.entries(weights).filter(([code]) => catalog.includes(code)));
  return Object.keys(known).length > 0 ? random.weighted(known) : random.pick(catalog);
};
