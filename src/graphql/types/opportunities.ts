/** The opportunity's GraphQL shapes: what clients send (inputs, validated) and what they read. */
import { IsIn, IsInt, IsNotEmpty, IsOptional, Length, Matches, Max, MaxLength, Min, ValidateNested } from 'class-validator';
import 'reflect-metadata';
import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { OCCURRED_AT_DESCRIPTION } from '../../core/backdating';
import {
  ACTIVITY_KINDS,
  OPPORTUNITY_STATUSES,
  QUOTE_STATUSES,
  type ActivityKind,
  type OpportunityStatus,
  type QuoteStatus,
} from '../../domain/opportunities/events';
import type { OpportunitySnapshot } from '../../useCases/asOf';
import {
  connectionOf,
  enumOf,
  LONG,
  Money,
  MoneyInput,
  MutationInput,
  payloadOf,
  PERSONAL_DATA_ERASED_DESCRIPTION,
  Reason,
  RevisedMutationInput,
  SHORT,
  type Connection,
} from '../shared/common';
import { DateTimeScalar } from '../shared/scalars';

export const OpportunityStatusEnum = enumOf(OPPORTUNITY_STATUSES);
export const OpportunityOutcomeEnum = enumOf(['WON', 'LOST'] as const);
export const QuoteStatusEnum = enumOf(QUOTE_STATUSES);
export const ActivityKindEnum = enumOf(ACTIVITY_KINDS);
registerEnumType(OpportunityStatusEnum, { name: 'OpportunityStatus' });
registerEnumType(OpportunityOutcomeEnum, { name: 'OpportunityOutcome' });
registerEnumType(QuoteStatusEnum, { name: 'QuoteStatus' });
registerEnumType(ActivityKindEnum, { name: 'ActivityKind' });

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATE_MESSAGE = 'must be a calendar date, YYYY-MM-DD';

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

@InputType({ description: 'Fields every input about an existing opportunity shares (never used on its own)' })
abstract class ExistingOpportunityInput extends RevisedMutationInput {
  @Field(() => ID)
  @IsNotEmpty()
  opportunityId!: string;
}

@InputType({ description: 'An input recording a business fact, which may be back-dated (never used on its own)' })
abstract class OpportunityFactInput extends ExistingOpportunityInput {
  @Field(() => DateTimeScalar, { nullable: true, description: OCCURRED_AT_DESCRIPTION })
  @IsOptional()
  occurredAt?: Date;
}

@InputType()
export class OpenOpportunityInput extends MutationInput {
  @Field(() => ID, { description: 'An existing account' }) @IsNotEmpty() accountId!: string;
  @Field(() => ID, { nullable: true, description: 'An existing contact' }) @IsOptional() @IsNotEmpty() contactId?: string;
  @Field(() => String) @IsNotEmpty({ message: 'name must not be empty' }) @MaxLength(SHORT) name!: string;
  @Field(() => MoneyInput, { nullable: true }) @IsOptional() @ValidateNested() amount?: MoneyInput;

  @Field(() => String, { nullable: true, description: 'YYYY-MM-DD' })
  @IsOptional()
  @Matches(DATE, { message: DATE_MESSAGE })
  expectedCloseDate?: string;

  @Field(() => String, { nullable: true, description: 'A code of pipelineStages; the first stage when absent' })
  @IsOptional()
  @MaxLength(50)
  stage?: string;

  @Field(() => ID, { nullable: true, description: 'Whoever opens it, when absent' })
  @IsOptional()
  @Length(1, SHORT)
  ownerId?: string;
}

@InputType()
export class MoveOpportunityStageInput extends OpportunityFactInput {
  @Field(() => String, { description: 'A code of pipelineStages' }) @IsNotEmpty() @MaxLength(50) stage!: string;
}

@InputType({ description: 'Only the fields given change' })
export class UpdateOpportunityInput extends ExistingOpportunityInput {
  @Field(() => String, { nullable: true }) @IsOptional() @IsNotEmpty() @MaxLength(SHORT) name?: string;
  @Field(() => MoneyInput, { nullable: true }) @IsOptional() @ValidateNested() amount?: MoneyInput;

  @Field(() => String, { nullable: true, description: 'YYYY-MM-DD' })
  @IsOptional()
  @Matches(DATE, { message: DATE_MESSAGE })
  expectedCloseDate?: string;

  @Field(() => Int, { nullable: true, description: "0..100; replaces the stage's default until the next stage move" })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(100)
  probability?: number;

  @Field(() => ID, { nullable: true }) @IsOptional() @Length(1, SHORT) ownerId?: string;
}

@InputType()
export class AddQuoteInput extends ExistingOpportunityInput {
  @Field(() => MoneyInput) @ValidateNested() amount!: MoneyInput;

  @Field(() => String, { nullable: true, description: 'The last day the offer holds, YYYY-MM-DD' })
  @IsOptional()
  @Matches(DATE, { message: DATE_MESSAGE })
  validUntil?: string;

  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(LONG) description?: string;
}

@InputType({ description: 'DRAFT → SENT → ACCEPTED or REJECTED; DRAFT or SENT → SUPERSEDED' })
export class ChangeQuoteStatusInput extends OpportunityFactInput {
  @Field(() => ID) @IsNotEmpty() quoteId!: string;
  @Field(() => QuoteStatusEnum) status!: QuoteStatus;
}

@InputType()
export class ScheduleActivityInput extends ExistingOpportunityInput {
  @Field(() => ActivityKindEnum) kind!: ActivityKind;
  @Field(() => String) @IsNotEmpty({ message: 'subject must not be empty' }) @MaxLength(SHORT) subject!: string;
  @Field(() => DateTimeScalar, { nullable: true }) @IsOptional() dueAt?: Date;
  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(LONG) notes?: string;
}

@InputType()
export class CompleteActivityInput extends OpportunityFactInput {
  @Field(() => ID) @IsNotEmpty() activityId!: string;
  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(LONG) notes?: string;
}

@InputType()
export class ReopenActivityInput extends ExistingOpportunityInput {
  @Field(() => ID) @IsNotEmpty() activityId!: string;
}

@InputType()
export class CloseOpportunityInput extends OpportunityFactInput {
  @Field(() => OpportunityOutcomeEnum)
  @IsIn(['WON', 'LOST'], { message: 'outcome must be WON or LOST' })
  outcome!: 'WON' | 'LOST';

  @Field(() => String, { nullable: true, description: 'Required when LOST: a code from lossReasons' })
  @IsOptional()
  @MaxLength(100)
  lossReason?: string;

  @Field(() => String, { nullable: true, description: 'Who won it instead, when LOST' })
  @IsOptional()
  @MaxLength(SHORT)
  competitor?: string;

  @Field(() => MoneyInput, { nullable: true, description: 'The final amount when WON (the current amount if absent)' })
  @IsOptional()
  @ValidateNested()
  amount?: MoneyInput;

  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(LONG) notes?: string;
}

@InputType()
export class ReopenOpportunityInput extends OpportunityFactInput {
  @Field(() => String, { description: 'Why a closed opportunity is worked again' })
  @IsNotEmpty({ message: 'reason must not be empty' })
  @MaxLength(LONG)
  reason!: string;
}

@InputType()
export class OpportunityFilter {
  @Field(() => OpportunityStatusEnum, { nullable: true }) status?: OpportunityStatus;
  @Field(() => String, { nullable: true }) stage?: string;
  @Field(() => ID, { nullable: true }) ownerId?: string;
  @Field(() => ID, { nullable: true }) accountId?: string;
  @Field(() => ID, { nullable: true }) contactId?: string;

  @Field(() => String, { nullable: true, description: 'Expected to close on or after, YYYY-MM-DD' })
  @IsOptional()
  @Matches(DATE, { message: DATE_MESSAGE })
  expectedCloseFrom?: string;

  @Field(() => String, { nullable: true, description: 'Expected to close on or before, YYYY-MM-DD' })
  @IsOptional()
  @Matches(DATE, { message: DATE_MESSAGE })
  expectedCloseTo?: string;
}

@InputType()
export class PipelineFilter {
  @Field(() => ID, { nullable: true }) ownerId?: string;
  @Field(() => ID, { nullable: true, description: 'An account, or a B2C grouping' }) accountId?: string;

  @Field(() => String, { nullable: true, description: "The currency totals are reported in; the pipeline's by default" })
  @IsOptional()
  @Matches(/^[A-Z]{3}$/, { message: 'currency must be a three-letter ISO 4217 code such as EUR' })
  currency?: string;
}

// ---------------------------------------------------------------------------------------------
// Outputs
// ---------------------------------------------------------------------------------------------

@ObjectType()
export class PipelineStage {
  @Field(() => String) code!: string;
  @Field(() => String) label!: string;
  @Field(() => Int) order!: number;
  @Field(() => Int, { description: 'The default chance of winning at this stage, 0..100' }) probability!: number;
}

@ObjectType()
export class Quote {
  @Field(() => ID) id!: string;
  @Field(() => Money) amount!: Money;
  @Field(() => String, { nullable: true, description: 'YYYY-MM-DD' }) validUntil?: string;
  @Field(() => String, { nullable: true }) description?: string;
  @Field(() => QuoteStatusEnum) status!: QuoteStatus;
  @Field(() => DateTimeScalar) addedAt!: Date;
  @Field(() => String) addedBy!: string;
  @Field(() => DateTimeScalar) statusChangedAt!: Date;
}

@ObjectType()
export class Activity {
  @Field(() => ID) id!: string;
  @Field(() => ActivityKindEnum) kind!: ActivityKind;
  @Field(() => String, { nullable: true, description: 'Null only once the personal data was erased' }) subject?: string;
  @Field(() => DateTimeScalar, { nullable: true }) dueAt?: Date;
  @Field(() => String, { nullable: true }) notes?: string;
  @Field(() => Boolean) done!: boolean;
  @Field(() => DateTimeScalar, { nullable: true }) completedAt?: Date;
  @Field(() => String, { nullable: true }) completionNotes?: string;
  @Field(() => DateTimeScalar) scheduledAt!: Date;
  @Field(() => String) scheduledBy!: string;
}

@ObjectType({ description: 'One stay at a pipeline stage; closing ends it, reopening starts a new one' })
export class OpportunityStageVisit {
  @Field(() => String) stage!: string;
  @Field(() => String) label!: string;
  @Field(() => Int) probability!: number;
  @Field(() => DateTimeScalar) enteredAt!: Date;
  @Field(() => DateTimeScalar, { nullable: true, description: 'Null while still at this stage' }) leftAt?: Date;
}

@ObjectType()
export class Opportunity {
  @Field(() => ID) id!: string;
  @Field(() => Int, { description: 'Revision of the opportunity stream: send it back as expectedRevision' })
  revision!: number;
  @Field(() => OpportunityStatusEnum) status!: OpportunityStatus;
  @Field(() => String) name!: string;
  @Field(() => ID) accountId!: string;
  @Field(() => ID, { nullable: true }) contactId?: string;
  @Field(() => String, { description: 'A code of pipelineStages' }) stage!: string;
  @Field(() => String) stageLabel!: string;
  @Field(() => Int, { description: '0..100' }) probability!: number;
  @Field(() => Money, { nullable: true, description: 'The final amount once WON' }) amount?: Money;
  @Field(() => Money, { nullable: true, description: 'amount × probability while OPEN' }) weightedAmount?: Money;
  @Field(() => String, { nullable: true, description: 'YYYY-MM-DD' }) expectedCloseDate?: string;
  @Field(() => ID, { nullable: true }) ownerId?: string;
  @Field(() => ID, { nullable: true, description: 'The lead it was converted from' }) fromLeadId?: string;
  @Field(() => DateTimeScalar) openedAt!: Date;
  @Field(() => String) openedBy!: string;
  @Field(() => DateTimeScalar) updatedAt!: Date;
  @Field(() => DateTimeScalar) stageEnteredAt!: Date;
  @Field(() => DateTimeScalar, { nullable: true }) closedAt?: Date;
  @Field(() => String, { nullable: true }) closeNotes?: string;
  @Field(() => Reason, { nullable: true, description: 'Why it was LOST' }) lossReason?: Reason;
  @Field(() => String, { nullable: true }) competitor?: string;
  @Field(() => DateTimeScalar, { nullable: true }) reopenedAt?: Date;
  @Field(() => String, { nullable: true }) reopenReason?: string;
  @Field(() => Boolean, { description: PERSONAL_DATA_ERASED_DESCRIPTION })
  personalDataErased!: boolean;
  // Resolved on demand (see OpportunityResolver), so that lists do not load them.
  @Field(() => [Quote]) quotes!: Quote[];
  @Field(() => [Activity]) activities!: Activity[];
  @Field(() => [OpportunityStageVisit], { description: 'Oldest first' }) stageHistory!: OpportunityStageVisit[];
}

export const OpportunityConnection = connectionOf('Opportunity', Opportunity);
export type OpportunityConnection = Connection<Opportunity>;

@ObjectType({ description: 'Open opportunities with an amount in one currency' })
export class PipelineCurrencyTotal {
  @Field(() => String) currency!: string;
  @Field(() => Int) count!: number;
  @Field(() => Money) amount!: Money;
  @Field(() => Money) weightedAmount!: Money;
}

@ObjectType()
export class PipelineStageSummary {
  @Field(() => String, { description: 'The stage code' }) stage!: string;
  @Field(() => String) label!: string;
  @Field(() => Int) order!: number;
  @Field(() => Int, { nullable: true, description: "The stage's default; null for a stage since removed" })
  probability?: number;
  @Field(() => Int, { description: 'Open opportunities at this stage, with or without an amount' }) count!: number;
  @Field(() => Money, { description: "Sum of the amounts in the report's currency" }) amount!: Money;
  @Field(() => Money, { description: 'Sum of amount × probability, each with its own probability' })
  weightedAmount!: Money;
  @Field(() => [PipelineCurrencyTotal], {
    description: 'Every currency present: amounts in different currencies are never added',
  })
  byCurrency!: PipelineCurrencyTotal[];
}

@ObjectType('Pipeline', { description: 'Open opportunities by stage, in pipeline order; empty stages included' })
export class PipelineReport {
  @Field(() => String, { description: 'The currency amount and weightedAmount are in' }) currency!: string;
  @Field(() => Int) count!: number;
  @Field(() => Money) amount!: Money;
  @Field(() => Money) weightedAmount!: Money;
  @Field(() => [PipelineCurrencyTotal]) byCurrency!: PipelineCurrencyTotal[];
  @Field(() => [PipelineStageSummary]) stages!: PipelineStageSummary[];
}

const payload = (name: string) => payloadOf(name, 'opportunity', Opportunity);

const quotePayload = (name: string) => {
  @ObjectType(name)
  class QuotePayload {
    @Field(() => Opportunity) opportunity!: Opportunity;
    @Field(() => Quote) quote!: Quote;
  }
  return QuotePayload;
};

const activityPayload = (name: string) => {
  @ObjectType(name)
  class ActivityPayload {
    @Field(() => Opportunity) opportunity!: Opportunity;
    @Field(() => Activity) activity!: Activity;
  }
  return ActivityPayload;
};

export const OpenOpportunityPayload = payload('OpenOpportunityPayload');
export const MoveOpportunityStagePayload = payload('MoveOpportunityStagePayload');
export const UpdateOpportunityPayload = payload('UpdateOpportunityPayload');
export const CloseOpportunityPayload = payload('CloseOpportunityPayload');
export const ReopenOpportunityPayload = payload('ReopenOpportunityPayload');
export const AddQuotePayload = quotePayload('AddQuotePayload');
export const ChangeQuoteStatusPayload = quotePayload('ChangeQuoteStatusPayload');
export const ScheduleActivityPayload = activityPayload('ScheduleActivityPayload');
export const CompleteActivityPayload = activityPayload('CompleteActivityPayload');
export const ReopenActivityPayload = activityPayload('ReopenActivityPayload');

/**
 * An opportunity as resolved from its row; quotes, activities and stage history come on demand,
 * from the live read model, or from the snapshot an as-of query folded them into.
 */
export type OpportunityFields = Omit<Opportunity, 'quotes' | 'activities' | 'stageHistory'> & {
  snapshot?: OpportunitySnapshot;
};
