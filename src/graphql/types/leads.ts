/** The lead's GraphQL shapes: what clients send (inputs, validated) and what they read. */
import {
  IsEmail,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsOptional,
  IsUrl,
  Length,
  MaxLength,
  ValidateNested,
} from 'class-validator';
import 'reflect-metadata';
import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { OCCURRED_AT_DESCRIPTION } from '../../core/backdating';
import {
  CONTACT_CHANNELS,
  CONTACT_OUTCOMES,
  LEAD_RANKS,
  LEAD_SOURCES,
  LEAD_STATUSES,
  type ContactChannel,
  type ContactOutcome,
  type LeadRank,
  type LeadSource,
  type LeadStatus,
} from '../../domain/leads/lead';
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

export const LeadSourceEnum = enumOf(LEAD_SOURCES);
export const LeadStatusEnum = enumOf(LEAD_STATUSES);
export const LeadRankEnum = enumOf(LEAD_RANKS);
export const ContactChannelEnum = enumOf(CONTACT_CHANNELS);
export const ContactOutcomeEnum = enumOf(CONTACT_OUTCOMES);
registerEnumType(LeadSourceEnum, { name: 'LeadSource' });
registerEnumType(LeadStatusEnum, { name: 'LeadStatus' });
registerEnumType(LeadRankEnum, { name: 'LeadRank' });
registerEnumType(ContactChannelEnum, { name: 'ContactChannel' });
registerEnumType(ContactOutcomeEnum, { name: 'ContactOutcome' });


// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

@InputType()
export class AddressInput {
  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(SHORT) street?: string;
  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(SHORT) city?: string;
  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(20) postalCode?: string;
  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(SHORT) region?: string;
  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(SHORT) country?: string;
}

/** The person's address, wherever a person has one (a lead's person, a contact). */
export const PERSON_ADDRESS_DESCRIPTION =
  "The person's own address (a consumer's, B2C): personal data, sealed and erased with the person. " +
  "A company's address goes in the company or the account";

@InputType()
export class PersonInput {
  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(SHORT) firstName?: string;

  @Field(() => String)
  @IsNotEmpty({ message: 'lastName must not be empty' })
  @MaxLength(SHORT)
  lastName!: string;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @IsEmail({}, { message: 'email must be an e-mail address' })
  email?: string;

  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(50) phone?: string;
  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(SHORT) jobTitle?: string;

  @Field(() => AddressInput, { nullable: true, description: PERSON_ADDRESS_DESCRIPTION })
  @IsOptional()
  @ValidateNested()
  address?: AddressInput;
}

@InputType()
export class CompanyInput {
  @Field(() => String)
  @IsNotEmpty({ message: 'name must not be empty' })
  @MaxLength(SHORT)
  name!: string;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @IsUrl({ require_protocol: false }, { message: 'website must be a web address such as example.com' })
  website?: string;

  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(50) phone?: string;

  @Field(() => String, { nullable: true, description: 'Head count band, e.g. "11-50"' })
  @IsOptional()
  @MaxLength(50)
  size?: string;

  @Field(() => AddressInput, { nullable: true })
  @IsOptional()
  @ValidateNested()
  address?: AddressInput;
}

@InputType()
export class InterestInput {
  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(SHORT) product?: string;
  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(LONG) notes?: string;

  @Field(() => MoneyInput, { nullable: true })
  @IsOptional()
  @ValidateNested()
  estimatedValue?: MoneyInput;
}

@InputType({ description: 'Fields every input about an existing lead shares (never used on its own)' })
abstract class LeadMutationInput extends RevisedMutationInput {
  @Field(() => ID)
  @IsNotEmpty()
  leadId!: string;
}

@InputType({ description: 'An input recording a business fact, which may be back-dated (never used on its own)' })
abstract class LeadFactInput extends LeadMutationInput {
  @Field(() => DateTimeScalar, { nullable: true, description: OCCURRED_AT_DESCRIPTION })
  @IsOptional()
  occurredAt?: Date;
}

@InputType()
export class CaptureLeadInput extends MutationInput {
  @Field(() => DateTimeScalar, { nullable: true, description: OCCURRED_AT_DESCRIPTION })
  @IsOptional()
  occurredAt?: Date;

  @Field(() => LeadSourceEnum) source!: LeadSource;
  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(SHORT) campaign?: string;
  @Field(() => PersonInput, { nullable: true }) @IsOptional() @ValidateNested() person?: PersonInput;
  @Field(() => CompanyInput, { nullable: true }) @IsOptional() @ValidateNested() company?: CompanyInput;
  @Field(() => InterestInput, { nullable: true }) @IsOptional() @ValidateNested() interest?: InterestInput;
  @Field(() => ID, { nullable: true }) @IsOptional() @Length(1, SHORT) ownerId?: string;
}

@InputType({
  description:
    "A new lead cycle for an existing contact: the person is the contact's, the company its account's; " +
    'only the campaign, its source and the interest are new',
})
export class EngageContactInput extends MutationInput {
  @Field(() => ID, { description: 'The contact a later campaign re-engages (active or inactive)' })
  @IsNotEmpty()
  @MaxLength(SHORT)
  contactId!: string;

  @Field(() => DateTimeScalar, { nullable: true, description: OCCURRED_AT_DESCRIPTION })
  @IsOptional()
  occurredAt?: Date;

  @Field(() => LeadSourceEnum) source!: LeadSource;
  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(SHORT) campaign?: string;
  @Field(() => InterestInput, { nullable: true }) @IsOptional() @ValidateNested() interest?: InterestInput;

  @Field(() => ID, { nullable: true, description: 'Who works the new lead; unowned when omitted, as a captured lead' })
  @IsOptional()
  @Length(1, SHORT)
  ownerId?: string;
}

@InputType()
export class LogLeadContactInput extends LeadFactInput {
  @Field(() => ContactChannelEnum) channel!: ContactChannel;
  @Field(() => ContactOutcomeEnum) outcome!: ContactOutcome;
  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(LONG) notes?: string;
}

@InputType()
export class LogQuoteRequestInput extends LeadFactInput {
  @Field(() => String, { nullable: true, description: 'What they asked a proposal for' })
  @IsOptional()
  @MaxLength(LONG)
  notes?: string;
}

@InputType()
export class UpdateLeadDetailsInput extends LeadMutationInput {
  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(SHORT) campaign?: string;
  @Field(() => PersonInput, { nullable: true }) @IsOptional() @ValidateNested() person?: PersonInput;
  @Field(() => CompanyInput, { nullable: true }) @IsOptional() @ValidateNested() company?: CompanyInput;
  @Field(() => InterestInput, { nullable: true }) @IsOptional() @ValidateNested() interest?: InterestInput;
}

@InputType()
export class AssignLeadInput extends LeadMutationInput {
  @Field(() => ID) @Length(1, SHORT) ownerId!: string;
}

@InputType()
export class QualificationCriteriaInput {
  @Field(() => Boolean, { defaultValue: false, description: 'The lead has a need we can meet' }) need!: boolean;
  @Field(() => Boolean, { defaultValue: false, description: 'A budget exists' }) budget!: boolean;
  @Field(() => Boolean, { defaultValue: false, description: 'A decision maker is involved' }) authority!: boolean;
  @Field(() => Boolean, { defaultValue: false, description: 'There is an event or urgency' }) timing!: boolean;
}

@InputType()
export class QualifyLeadInput extends LeadFactInput {
  @Field(() => LeadRankEnum, { description: 'MQL or SQL' })
  @IsIn(['MQL', 'SQL'], { message: 'rank must be MQL or SQL' })
  rank!: LeadRank;

  @Field(() => QualificationCriteriaInput, { nullable: true })
  @IsOptional()
  @ValidateNested()
  criteria?: QualificationCriteriaInput;

  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(LONG) notes?: string;
}

@InputType()
export class DisqualifyLeadInput extends LeadFactInput {
  @Field(() => String, { description: 'A code from disqualificationReasons' })
  @IsNotEmpty()
  reason!: string;

  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(LONG) notes?: string;
}

@InputType()
export class RecycleLeadInput extends LeadMutationInput {
  @Field(() => LeadSourceEnum, { nullable: true, description: 'Where the lead came back from' })
  @IsOptional()
  source?: LeadSource;

  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(SHORT) campaign?: string;
  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(LONG) notes?: string;
}

@InputType()
export class LeadFilter {
  @Field(() => LeadStatusEnum, { nullable: true }) status?: LeadStatus;
  @Field(() => LeadRankEnum, { nullable: true }) rank?: LeadRank;
  @Field(() => LeadSourceEnum, { nullable: true }) source?: LeadSource;
  @Field(() => String, { nullable: true }) campaign?: string;
  @Field(() => ID, { nullable: true }) ownerId?: string;

  @Field(() => String, { nullable: true, description: 'Case- and accent-insensitive; name, e-mail or company' })
  @IsOptional()
  @MaxLength(SHORT)
  search?: string;

  @Field(() => Int, { nullable: true, description: 'Only leads scored at least this (unscored leads are left out)' })
  @IsOptional()
  @IsInt()
  minScore?: number;

  @Field(() => ID, { nullable: true, description: "Only a list's leads: those put into a static list, those a dynamic list's filter matches" })
  @IsOptional()
  @MaxLength(SHORT)
  listId?: string;
}

export const LeadOrderEnum = enumOf(['NEWEST', 'SCORE'] as const);
registerEnumType(LeadOrderEnum, {
  name: 'LeadOrder',
  description: 'NEWEST: latest capture first. SCORE: highest score first, unscored leads last',
});

// ---------------------------------------------------------------------------------------------
// Outputs
// ---------------------------------------------------------------------------------------------

@ObjectType()
export class Address {
  @Field(() => String, { nullable: true }) street?: string;
  @Field(() => String, { nullable: true }) city?: string;
  @Field(() => String, { nullable: true }) postalCode?: string;
  @Field(() => String, { nullable: true }) region?: string;
  @Field(() => String, { nullable: true }) country?: string;
}

@ObjectType()
export class LeadPersonType {
  @Field(() => String, { nullable: true }) firstName?: string;
  @Field(() => String) lastName!: string;
  @Field(() => String, { nullable: true }) email?: string;
  @Field(() => String, { nullable: true }) phone?: string;
  @Field(() => String, { nullable: true }) jobTitle?: string;
  @Field(() => Address, { nullable: true, description: PERSON_ADDRESS_DESCRIPTION }) address?: Address;
}

@ObjectType()
export class LeadCompanyType {
  @Field(() => String) name!: string;
  @Field(() => String, { nullable: true }) website?: string;
  @Field(() => String, { nullable: true }) phone?: string;
  @Field(() => String, { nullable: true }) size?: string;
  @Field(() => Address, { nullable: true }) address?: Address;
}

@ObjectType()
export class LeadInterestType {
  @Field(() => String, { nullable: true }) product?: string;
  @Field(() => String, { nullable: true }) notes?: string;
  @Field(() => Money, { nullable: true }) estimatedValue?: Money;
}

@ObjectType()
export class QualificationCriteria {
  @Field(() => Boolean) need!: boolean;
  @Field(() => Boolean) budget!: boolean;
  @Field(() => Boolean) authority!: boolean;
  @Field(() => Boolean) timing!: boolean;
}

@ObjectType()
export class LeadQualification {
  @Field(() => LeadRankEnum) rank!: LeadRank;
  @Field(() => QualificationCriteria, { nullable: true }) criteria?: QualificationCriteria;
  @Field(() => String, { nullable: true }) notes?: string;
  @Field(() => DateTimeScalar, { nullable: true }) qualifiedAt?: Date;
}

@ObjectType()
export class LeadDisqualification {
  @Field(() => Reason) reason!: Reason;
  @Field(() => String, { nullable: true }) notes?: string;
  @Field(() => DateTimeScalar, { nullable: true }) disqualifiedAt?: Date;
}

@ObjectType({ description: 'What one scoring rule added to a score' })
export class ScoreContributionType {
  @Field(() => String) ruleId!: string;
  @Field(() => String, { nullable: true }) label?: string;
  @Field(() => Int) points!: number;
  @Field(() => Int, { nullable: true, description: 'For a rule on actions: how many were counted' }) count?: number;
}

@ObjectType({ description: 'What a converted lead became, who converted it, and when' })
export class LeadConversion {
  @Field(() => ID) accountId!: string;
  @Field(() => ID) contactId!: string;
  @Field(() => ID, { nullable: true }) opportunityId?: string;
  @Field(() => DateTimeScalar) convertedAt!: Date;
  @Field(() => String) convertedBy!: string;
}

@ObjectType()
export class Lead {
  @Field(() => ID) id!: string;
  @Field(() => Int, { description: 'Revision of the lead stream: send it back as expectedRevision' })
  revision!: number;
  @Field(() => LeadStatusEnum) status!: LeadStatus;
  @Field(() => LeadRankEnum) rank!: LeadRank;
  @Field(() => LeadSourceEnum) source!: LeadSource;
  @Field(() => String, { nullable: true }) campaign?: string;
  @Field(() => LeadPersonType, { nullable: true }) person?: LeadPersonType;
  @Field(() => LeadCompanyType, { nullable: true }) company?: LeadCompanyType;
  @Field(() => LeadInterestType, { nullable: true }) interest?: LeadInterestType;
  @Field(() => ID, { nullable: true }) ownerId?: string;
  @Field(() => Int, { description: '1 for the first cycle; each recycle starts the next' }) cycle!: number;
  @Field(() => Int) contactAttempts!: number;
  @Field(() => Int, { description: 'Proposals asked for in this cycle' }) quoteRequests!: number;
  @Field(() => Int, { nullable: true, description: 'The last score recorded; null until scored' }) score?: number;
  @Field(() => String, { nullable: true, description: 'The version of the scoring rules that gave the score' })
  scoredWithRulesVersion?: string;
  @Field(() => DateTimeScalar, { nullable: true }) scoredAt?: Date;
  @Field(() => [ScoreContributionType], { nullable: true, description: 'Why the lead has its score, rule by rule' })
  scoreBreakdown?: ScoreContributionType[];
  @Field(() => DateTimeScalar, { nullable: true }) lastContactedAt?: Date;
  @Field(() => ContactOutcomeEnum, { nullable: true }) lastContactOutcome?: ContactOutcome;
  @Field(() => LeadQualification, { nullable: true }) qualification?: LeadQualification;
  @Field(() => LeadDisqualification, { nullable: true }) disqualification?: LeadDisqualification;
  @Field(() => LeadConversion, { nullable: true, description: 'What the lead became, once converted' })
  conversion?: LeadConversion;
  @Field(() => ID, {
    nullable: true,
    description:
      'The contact this lead cycle was opened for (engageContact): a known person re-engaged by a later campaign. ' +
      'Null for a lead captured as a stranger, even once converted (see conversion.contactId)',
  })
  contactId?: string;
  @Field(() => DateTimeScalar) capturedAt!: Date;
  @Field(() => String) capturedBy!: string;
  @Field(() => DateTimeScalar) updatedAt!: Date;
  @Field(() => Boolean, { description: PERSONAL_DATA_ERASED_DESCRIPTION })
  personalDataErased!: boolean;
}

export const LeadConnection = connectionOf('Lead', Lead);
export type LeadConnection = Connection<Lead>;

const payload = (name: string) => payloadOf(name, 'lead', Lead);

export const CaptureLeadPayload = payload('CaptureLeadPayload');
export const LogLeadContactPayload = payload('LogLeadContactPayload');
export const UpdateLeadDetailsPayload = payload('UpdateLeadDetailsPayload');
export const AssignLeadPayload = payload('AssignLeadPayload');
export const QualifyLeadPayload = payload('QualifyLeadPayload');
export const DisqualifyLeadPayload = payload('DisqualifyLeadPayload');
export const RecycleLeadPayload = payload('RecycleLeadPayload');
export const LogQuoteRequestPayload = payload('LogQuoteRequestPayload');
export const EngageContactPayload = payload('EngageContactPayload');
