/**
 * The lead's part of a seed story (see `story.ts`): its capture, contact attempts and
 * qualification, then a disqualification (perhaps recycled months later) or a conversion, after
 * which the opportunity's story (`opportunityStory.ts`) continues on the lead's clock. The lead
 * story keeps what both parts share: the random draws, the clock, the owner and the ids.
 */
import { conversionIds } from '../domain/leads/conversion';
import type { LeadCommand } from '../domain/leads/decide';
import type { ContactChannel, LeadPerson, LeadSource } from '../domain/leads/lead';
import type { Money } from '../domain/values';
import type { OpportunityCommand } from '../domain/opportunities/decide';
import { deterministicId, orderedId } from '../core/ids';
import { Random } from './random';
import {
  B2B_PRODUCTS,
  B2C_GROUPINGS,
  B2C_PRODUCTS,
  DISQUALIFICATION_NOTES,
  FIRST_NAMES,
  JOB_TITLES,
  LAST_NAMES,
  MARKETING_ACTOR,
  SOURCE_WEIGHTS,
  campaignFor,
  captureActorFor,
  money,
  type GeneratedCompany,
  type Product,
} from './data';
import { OpportunityStory } from './opportunityStory';
import { DAY, HOUR, officeHours, reasonFrom, type SeedStep, type Story, type StoryWorld } from './story';

type CycleEnd = 'DISQUALIFIED' | 'CONVERTED' | 'OPEN';

// Weights for the default catalogs; a company's own codes are drawn evenly (see `reasonFrom`).
const EARLY_REJECTIONS = { NO_NEED: 34, NO_BUDGET: 18, BAD_TIMING: 14, COMPETITOR: 9, OUT_OF_TERRITORY: 9, NO_AUTHORITY: 6, DUPLICATE: 6, OTHER: 4 };
const MQL_REJECTIONS = { NO_BUDGET: 30, BAD_TIMING: 25, NO_AUTHORITY: 18, COMPETITOR: 15, NO_NEED: 8, OTHER: 4 };
const SQL_REJECTIONS = { NO_BUDGET: 40, COMPETITOR: 35, BAD_TIMING: 25 };

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
    // Ids that begin with the simulated time, as the API's begin with the real one (see ids.ts).
    this.leadId = orderedId(capturedAt, 'seed', world.seed, 'lead', index);
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
      commandId: orderedId(this.time, 'seed', this.world.seed, 'lead', this.index, 'command', n),
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
    return orderedId(this.time, 'seed', this.world.seed, 'lead', this.index, kind, this.cycle, n);
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

const ascii = (text: string) =>
  text.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^a-z0-9]+/g, '');
