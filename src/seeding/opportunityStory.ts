/**
 * The opportunity's part of a seed story (see `story.ts`): from its opening at the lead's
 * conversion to its close, through stages, activities and quotes, and now and then a reopen. It
 * runs on the lead story's clock, random draws and ids, so both parts stay one deterministic
 * sequence.
 */
import type { ActivityKind } from '../domain/opportunities/events';
import type { OpportunityCommand } from '../domain/opportunities/decide';
import type { Money } from '../domain/values';
import { COMPETITORS, LOSS_NOTES, REOPEN_REASONS, money } from './data';
import type { Random } from './random';
import { DAY, HOUR, officeHours, reasonFrom, type SeedStep, type Story } from './story';

// Weights for the default catalog; a company's own codes are drawn evenly (see `reasonFrom`).
const LOSSES = { PRICE: 28, COMPETITOR: 25, NO_DECISION: 15, TIMING: 14, PRODUCT_FIT: 8, LOST_CONTACT: 7, OTHER: 3 };

/** What an opportunity's story takes from the lead story it continues: its clock, draws and ids. */
export interface StoryOfConvertedLead {
  readonly rng: Random;
  readonly ownerId: string;
  readonly now: number;
  readonly stages: readonly string[];
  readonly lossReasons: readonly string[];
  estimate(): Money;
  wait(minDays: number, maxDays: number): void;
  idFor(kind: string, n: number): string;
  step(actor: string, command: OpportunityCommand, occurredAt: number | undefined, target: 'opportunity'): SeedStep;
}

/** From an opportunity's opening to its close, through stages, activities and quotes. */
export class OpportunityStory {
  private quotes = 0;
  private activities = 0;
  private liveQuote: { id: string; amount: Money } | undefined;

  constructor(
    private readonly lead: StoryOfConvertedLead,
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
