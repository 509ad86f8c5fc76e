/**
 * The life of one generated lead, told as the commands a sales team would send, each at its
 * moment: capture, contact attempts, qualification, then a disqualification (perhaps recycled
 * months later) or a conversion, and the opportunity's way through the pipeline to a win or a
 * loss (and now and then a reopen). A story is a generator: it yields its next command and
 * resumes once that command has run, so thousands of stories interleave in time order.
 */
import type { ConversionRequest } from '../leads/conversion';
import type { LeadCommand } from '../leads/decide';
import { conversionIds } from '../leads/conversion';
import type { ContactChannel, LeadPerson, LeadSource, Money } from '../leads/lead';
import type { ActivityKind } from '../opportunities/events';
import type { OpportunityCommand } from '../opportunities/decide';
import { deterministicId } from '../core/ids';
import { Random } from './random';
import {
  B2B_PRODUCTS,
  B2C_GROUPINGS,
  B2C_PRODUCTS,
  COMPETITORS,
  DISQUALIFICATION_NOTES,
  FIRST_NAMES,
  JOB_TITLES,
  LAST_NAMES,
  LOSS_NOTES,
  MARKETING_ACTOR,
  REOPEN_REASONS,
  SOURCE_WEIGHTS,
  campaignFor,
  captureActorFor,
  money,
  type GeneratedCompany,
  type Product,
} from './seedData';

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

type Story = Generator<SeedStep, void, void>;
type CycleEnd = 'DISQUALIFIED' | 'CONVERTED' | 'OPEN';

const DAY = 86_400_000;
const HOUR = 3_600_000;

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

// Weights for the default catalogs; a company's own codes are drawn evenly (see `reasonFrom`).
const EARLY_REJECTIONS = { NO_NEED: 34, NO_BUDGET: 18, BAD_TIMING: 14, COMPETITOR: 9, OUT_OF_TERRITORY: 9, NO_AUTHORITY: 6, DUPLICATE: 6, OTHER: 4 };
const MQL_REJECTIONS = { NO_BUDGET: 30, BAD_TIMING: 25, NO_AUTHORITY: 18, COMPETITOR: 15, NO_NEED: 8, OTHER: 4 };
const SQL_REJECTIONS = { NO_BUDGET: 40, COMPETITOR: 35, BAD_TIMING: 25 };
const LOSSES = { PRICE: 28, COMPETITOR: 25, NO_DECISION: 15, TIMING: 14, PRODUCT_FIT: 8, LOST_CONTACT: 7, OTHER: 3 };

export class LeadStory {
  readonly leadId: string;
  private readonly random: Random;
  private time: number;
  private steps = 0;
  private owner: string | undefined;
  private cycle = 1;
  private readonly b2b?: { companyIndex: number; company: GeneratedCompany };
  private readonly person: LeadPerson;
  private readonly product: Product;
  private readonly currency: string;
  private readonly source: LeadSource;

  constructor(
    private readonly world: StoryWorld,
    private readonly index: number,
    capturedAt: number,
  ) {
    this.random = Random.derive(world.seed, 1, index);
    this.leadId = deterministicId('seed', world.seed, 'lead', index);
    this.time = capturedAt;
    const r = this.random;
    this.source = r.weighted(SOURCE_WEIGHTS);
    if (r.chance(0.7)) {
      const companyIndex = r.int(0, world.companyCount - 1);
      this.b2b = { companyIndex, company: world.company(companyIndex) };
    }
    this.person = this.newPerson();
    this.product = r.pick(this.b2b ? B2B_PRODUCTS : B2C_PRODUCTS);
    this.currency = this.b2b?.company.country.currency ?? 'EUR';
  }

  *tell(): Story {
    yield* this.capture();
    for (;;) {
      const end = yield* this.workCycle();
      if (end !== 'DISQUALIFIED' || this.cycle >= 3 || !this.random.chance(0.15)) return;
      yield* this.recycle();
    }
  }

  private *capture(): Story {
    const r = this.random;
    const integration = captureActorFor(this.source);
    this.owner = integration ? undefined : r.pick(this.world.team);
    const company = this.b2b?.company;
    yield this.step(integration ?? this.owner!, {
      type: 'CaptureLead',
      data: {
        leadId: this.leadId,
        source: this.source,
        campaign: campaignFor(this.source, new Date(this.time), r),
        person: this.person,
        company: company && {
          name: company.name,
          website: r.chance(0.8) ? `https://www.${company.domain}` : undefined,
          phone: r.chance(0.5) ? this.phone() : undefined,
          size: company.size,
          address: company.address,
        },
        interest: {
          product: this.product.name,
          notes: r.chance(0.3) ? r.pick(['Asked for a visit next month', 'Wants a quote before the summer', 'Comparing suppliers']) : undefined,
          estimatedValue: r.chance(0.85) ? money(r.between(this.product.min, this.product.max), this.currency) : undefined,
        },
        ownerId: this.owner,
      },
    });
    if (!this.owner) {
      this.wait(0.05, 2);
      this.owner = r.pick(this.world.team);
      yield this.step(MARKETING_ACTOR, { type: 'AssignLead', data: { leadId: this.leadId, ownerId: this.owner } });
    }
  }

  private *workCycle(): Generator<SeedStep, CycleEnd, void> {
    const r = this.random;
    if (this.cycle === 1 && r.chance(0.04)) return 'OPEN'; // never worked: still NEW
    const reached = yield* this.contactAttempts();
    if (reached === 'INVALID') {
      if (!r.chance(0.8)) return 'OPEN';
      return yield* this.disqualify('INVALID_DATA', 0.2, 2);
    }
    if (!reached) {
      if (!r.chance(0.85)) return 'OPEN';
      return yield* this.disqualify('UNREACHABLE', 1, 3);
    }
    // Only an update that changes something: a command that records nothing would not be
    // recognised as already done when the same seed runs again.
    if (r.chance(0.1) && !(this.person.jobTitle && this.person.phone)) {
      this.wait(0, 1);
      yield this.step(this.owner!, {
        type: 'UpdateLeadDetails',
        data: { leadId: this.leadId, person: { ...this.person, jobTitle: this.person.jobTitle ?? r.pick(JOB_TITLES), phone: this.person.phone ?? this.phone() } },
      });
    }
    if (r.chance(0.06)) return 'OPEN';

    this.wait(2, 10);
    const warm = this.source === 'REFERRAL' || this.source === 'INBOUND_CALL';
    if (!(warm && r.chance(0.35))) {
      if (r.chance(0.5)) return yield* this.disqualifyFor(EARLY_REJECTIONS);
      yield this.qualify('MQL');
      if (r.chance(0.08)) return 'OPEN';
      this.wait(3, 15);
      if (r.chance(0.4)) return yield* this.disqualifyFor(MQL_REJECTIONS);
    }
    yield this.qualify('SQL');
    this.wait(1, 7);
    if (r.chance(0.1)) return yield* this.disqualifyFor(SQL_REJECTIONS);
    yield* this.convert();
    return 'CONVERTED';
  }

  /** True once someone answered; 'INVALID' when the data turned out to be wrong. */
  private *contactAttempts(): Generator<SeedStep, boolean | 'INVALID', void> {
    const r = this.random;
    const reachability = this.cycle === 1 ? 0.5 : 0.65;
    for (let attempt = 1; attempt <= 4; attempt++) {
      const previous = this.time;
      this.wait(attempt === 1 ? 0.1 : 1, attempt === 1 ? 3 : 5);
      const channel = this.channel();
      const invalid = attempt === 1 && r.chance(0.04);
      const outcome = invalid
        ? channel === 'EMAIL' ? 'BOUNCED' : 'WRONG_NUMBER'
        : r.chance(reachability) ? 'REACHED' : channel === 'CALL' ? r.pick(['NO_ANSWER', 'LEFT_MESSAGE'] as const) : 'NO_ANSWER';
      // Some calls are logged the next morning: the business time is when the call happened.
      const occurredAt = r.chance(0.2) ? Math.max(previous, this.time - r.int(1, 18) * HOUR) : undefined;
      yield this.step(this.owner!, { type: 'LogLeadContact', data: { leadId: this.leadId, channel, outcome } }, occurredAt);
      if (invalid) return 'INVALID';
      if (outcome === 'REACHED') return true;
    }
    return false;
  }

  private qualify(rank: 'MQL' | 'SQL'): SeedStep {
    const r = this.random;
    const sql = rank === 'SQL';
    return this.step(this.owner!, {
      type: 'QualifyLead',
      data: {
        leadId: this.leadId,
        rank,
        criteria: { need: true, budget: sql || r.chance(0.6), authority: sql ? r.chance(0.9) : r.chance(0.5), timing: sql || r.chance(0.4) },
        notes: sql ? 'Sales confirmed need and budget; asked for a proposal.' : undefined,
      },
    });
  }

  private *disqualifyFor(weights: Record<string, number>): Generator<SeedStep, CycleEnd, void> {
    return yield* this.disqualify(reasonFrom(this.random, this.world.disqualificationReasons, weights), 0, 1);
  }

  private *disqualify(wanted: string, minDays: number, maxDays: number): Generator<SeedStep, CycleEnd, void> {
    const reason = this.world.disqualificationReasons.includes(wanted) ? wanted : this.random.pick(this.world.disqualificationReasons);
    this.wait(minDays, maxDays);
    yield this.step(this.owner!, {
      type: 'DisqualifyLead',
      data: { leadId: this.leadId, reason, notes: DISQUALIFICATION_NOTES[reason] ?? 'See call notes.' },
    });
    return 'DISQUALIFIED';
  }

  private *recycle(): Story {
    const r = this.random;
    this.wait(40, 150);
    this.cycle++;
    const source = r.chance(0.6) ? 'EMAIL_CAMPAIGN' : r.weighted(SOURCE_WEIGHTS);
    yield this.step(MARKETING_ACTOR, {
      type: 'RecycleLead',
      data: { leadId: this.leadId, source, campaign: campaignFor(source, new Date(this.time), r) ?? `reactivation-${new Date(this.time).getUTCFullYear()}`, notes: 'Re-engaged by a later campaign' },
    });
  }

  private *convert(): Story {
    const r = this.random;
    const createOpportunity = r.chance(0.96);
    const closeBy = new Date(this.time + r.int(30, 120) * DAY).toISOString().slice(0, 10);
    yield {
      ...this.stepMeta(this.owner!),
      target: 'conversion',
      conversion: {
        request: {
          leadId: this.leadId,
          createOpportunity: createOpportunity ? undefined : false,
          opportunity: createOpportunity ? { expectedCloseDate: closeBy } : undefined,
          // The generator picks accounts itself (below) and never reuses a person: the
          // read-model duplicate check would only make a run depend on projection lag.
          allowDuplicate: true,
        },
        ...(this.b2b
          ? { b2b: { companyIndex: this.b2b.companyIndex } }
          : { b2c: { groupingKey: r.weighted(Object.fromEntries(B2C_GROUPINGS.map((g) => [g.key, g.weight]))) } }),
      },
    };
    if (createOpportunity) yield* new OpportunityStory(this, conversionIds(this.leadId, this.cycle).opportunityId, closeBy).tell();
  }

  // ---- shared with the opportunity's story -------------------------------------------------

  get rng(): Random {
    return this.random;
  }

  get ownerId(): string {
    return this.owner!;
  }

  get now(): number {
    return this.time;
  }

  estimate(): Money {
    return money(this.random.between(this.product.min, this.product.max), this.currency);
  }

  /** Moves the story's clock on by a random number of days, into office hours. */
  wait(minDays: number, maxDays: number): void {
    this.time = officeHours(this.time + this.random.between(minDays, maxDays) * DAY);
  }

  step(actor: string, command: LeadCommand, occurredAt?: number): SeedStep;
  step(actor: string, command: OpportunityCommand, occurredAt?: number, target?: 'opportunity'): SeedStep;
  step(actor: string, command: LeadCommand | OpportunityCommand, occurredAt?: number, target: 'lead' | 'opportunity' = 'lead'): SeedStep {
    return { ...this.stepMeta(actor, occurredAt), target, command } as SeedStep;
  }

  private stepMeta(actor: string, occurredAt?: number) {
    const n = this.steps++;
    return {
      at: this.time,
      ...(occurredAt === undefined ? {} : { occurredAt }),
      actor,
      commandId: deterministicId('seed', this.world.seed, 'lead', this.index, 'command', n),
      correlationId: deterministicId('seed', this.world.seed, 'lead', this.index, 'request', n),
    };
  }

  get stages(): readonly string[] {
    return this.world.stages;
  }

  get lossReasons(): readonly string[] {
    return this.world.lossReasons;
  }

  idFor(kind: string, n: number): string {
    return deterministicId('seed', this.world.seed, 'lead', this.index, kind, this.cycle, n);
  }

  private newPerson(): LeadPerson {
    const r = this.random;
    const firstName = r.pick(FIRST_NAMES);
    const lastName = r.pick(LAST_NAMES);
    const local = `${ascii(firstName)}.${ascii(lastName)}`;
    const email = this.b2b
      ? `${local}@${this.b2b.company.domain}`
      : `${local}${r.int(1, 999)}@${r.pick(['gmail', 'outlook', 'correu', 'yahoo'])}.example`;
    return {
      firstName,
      lastName,
      email: r.chance(0.9) ? email : undefined,
      phone: r.chance(0.8) ? this.phone() : undefined,
      jobTitle: this.b2b && r.chance(0.8) ? r.pick(JOB_TITLES) : undefined,
    };
  }

  private phone(): string {
    const prefix = this.b2b?.company.country.phonePrefix ?? '+34';
    const r = this.random;
    return `${prefix} 6${r.int(10, 99)} ${r.int(100, 999)} ${r.int(100, 999)}`;
  }

  private channel(): ContactChannel {
    if (!this.person.email) return 'CALL';
    if (!this.person.phone) return 'EMAIL';
    return this.random.weighted({ CALL: 55, EMAIL: 30, MESSAGE: 10, MEETING: 5 });
  }
}

/** From an opportunity's opening to its close, through stages, activities and quotes. */
class OpportunityStory {
  private quotes = 0;
  private activities = 0;
  private liveQuote: { id: string; amount: Money } | undefined;

  constructor(
    private readonly lead: LeadStory,
    private readonly opportunityId: string,
    private expectedCloseDate: string,
  ) {}

  *tell(): Story {
    const r = this.lead.rng;
    const stages = this.lead.stages;
    const last = stages.length - 1;
    const outcome = r.weighted({ WON: 38, LOST: 47, OPEN: 15 });
    const reached = outcome === 'WON' ? r.int(Math.max(1, last - 1), last) : r.int(0, last);
    const quoteAt = Math.min(2, last);

    yield* this.activity(r.pick(['MEETING', 'CALL'] as const), 'Discovery call');
    for (let stage = 1; stage <= reached; stage++) {
      this.lead.wait(2, 12);
      yield this.command({ type: 'MoveOpportunityStage', data: { opportunityId: this.opportunityId, stage: stages[stage]! } });
      if (stage === 1) yield* this.activity('VISIT', 'Site visit');
      else if (r.chance(0.4)) yield* this.activity(r.pick(['CALL', 'EMAIL', 'TASK'] as const), 'Follow-up');
      if (stage === quoteAt) yield* this.quote();
      if (r.chance(0.08)) {
        this.lead.wait(0, 3);
        let expectedCloseDate = new Date(this.lead.now + r.int(20, 90) * DAY).toISOString().slice(0, 10);
        if (expectedCloseDate === this.expectedCloseDate) expectedCloseDate = new Date(Date.parse(expectedCloseDate) + DAY).toISOString().slice(0, 10);
        this.expectedCloseDate = expectedCloseDate;
        yield this.command({ type: 'UpdateOpportunity', data: { opportunityId: this.opportunityId, expectedCloseDate } });
      }
    }
    if (outcome === 'OPEN') return;
    yield* this.close(outcome);
    if (r.chance(0.05)) {
      this.lead.wait(5, 40);
      yield this.command({ type: 'ReopenOpportunity', data: { opportunityId: this.opportunityId, reason: r.pick(REOPEN_REASONS) } });
      this.lead.wait(5, 30);
      yield* this.close(r.chance(0.55) ? 'WON' : 'LOST');
    }
  }

  private *activity(kind: ActivityKind, subject: string): Story {
    const r = this.lead.rng;
    const activityId = this.lead.idFor('activity', this.activities++);
    this.lead.wait(0.2, 3);
    const dueAt = officeHours(this.lead.now + r.between(1, 6) * DAY);
    yield this.command({ type: 'ScheduleActivity', data: { opportunityId: this.opportunityId, activityId, kind, subject, dueAt: new Date(dueAt).toISOString() } });
    if (r.chance(0.1)) return;
    this.lead.wait(1, 6);
    yield this.command({ type: 'CompleteActivity', data: { opportunityId: this.opportunityId, activityId, notes: r.chance(0.5) ? 'Done as planned' : undefined } });
    if (r.chance(0.04)) {
      this.lead.wait(0, 2);
      yield this.command({ type: 'ReopenActivity', data: { opportunityId: this.opportunityId, activityId } });
      this.lead.wait(1, 4);
      yield this.command({ type: 'CompleteActivity', data: { opportunityId: this.opportunityId, activityId, notes: 'Second visit needed' } });
    }
  }

  private *quote(): Story {
    const r = this.lead.rng;
    const first = yield* this.sendQuote(this.lead.estimate(), 'First proposal');
    if (!r.chance(0.25)) return;
    this.lead.wait(3, 10);
    const revised = { ...first.amount, amount: money(Number(first.amount.amount) * r.between(0.82, 0.95), first.amount.currency).amount };
    const second = yield* this.sendQuote(revised, 'Revised proposal', false);
    yield this.command({ type: 'ChangeQuoteStatus', data: { opportunityId: this.opportunityId, quoteId: first.id, status: 'SUPERSEDED' } });
    yield this.command({ type: 'ChangeQuoteStatus', data: { opportunityId: this.opportunityId, quoteId: second.id, status: 'SENT' } });
  }

  private *sendQuote(amount: Money, description: string, send = true): Generator<SeedStep, { id: string; amount: Money }, void> {
    const quoteId = this.lead.idFor('quote', this.quotes++);
    this.lead.wait(0.5, 4);
    const validUntil = new Date(this.lead.now + 30 * DAY).toISOString().slice(0, 10);
    yield this.command({ type: 'AddQuote', data: { opportunityId: this.opportunityId, quoteId, amount, validUntil, description } });
    if (send) {
      this.lead.wait(0.1, 2);
      yield this.command({ type: 'ChangeQuoteStatus', data: { opportunityId: this.opportunityId, quoteId, status: 'SENT' } });
    }
    this.liveQuote = { id: quoteId, amount };
    return this.liveQuote;
  }

  private *close(outcome: 'WON' | 'LOST'): Story {
    const r = this.lead.rng;
    this.lead.wait(3, 20);
    const quote = this.liveQuote;
    this.liveQuote = undefined;
    if (quote) {
      const status = outcome === 'WON' ? 'ACCEPTED' : 'REJECTED';
      yield this.command({ type: 'ChangeQuoteStatus', data: { opportunityId: this.opportunityId, quoteId: quote.id, status } });
    }
    const previous = this.lead.now;
    this.lead.wait(0, 1);
    const occurredAt = r.chance(0.3) ? Math.max(previous, this.lead.now - r.int(2, 30) * HOUR) : undefined;
    if (outcome === 'WON') {
      const amount = quote?.amount ?? this.lead.estimate();
      yield this.command({ type: 'CloseOpportunity', data: { opportunityId: this.opportunityId, outcome, amount, notes: 'Signed.' } }, occurredAt);
      return;
    }
    const lossReason = reasonFrom(r, this.lead.lossReasons, LOSSES);
    const competitor = lossReason === 'COMPETITOR' || (lossReason === 'PRICE' && r.chance(0.5)) ? r.pick(COMPETITORS) : undefined;
    yield this.command(
      { type: 'CloseOpportunity', data: { opportunityId: this.opportunityId, outcome, lossReason, competitor, notes: LOSS_NOTES[lossReason] } },
      occurredAt,
    );
  }

  private command(command: OpportunityCommand, occurredAt?: number): SeedStep {
    return this.lead.step(this.lead.ownerId, command, occurredAt, 'opportunity');
  }
}

/** A code of the catalog: weighted for the codes we know, evenly for a company's own. */
const reasonFrom = (random: Random, catalog: readonly string[], weights: Record<string, number>): string => {
  const known = Object.fromEntries(Object.entries(weights).filter(([code]) => catalog.includes(code)));
  return Object.keys(known).length > 0 ? random.weighted(known) : random.pick(catalog);
};

const ascii = (text: string) =>
  text.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^a-z0-9]+/g, '');
