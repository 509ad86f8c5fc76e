/** The audit trail's GraphQL shapes: the filter auditors send, and the traces they read. */
import { ArrayMaxSize, IsOptional, IsString, Length, MaxLength, ValidateNested } from 'class-validator';
import 'reflect-metadata';
import { Field, ID, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { type Connection, connectionOf, RecordedEventType } from '../shared/common';
import { DateTimeScalar } from '../shared/scalars';
import { Account } from './accounts';
import { Contact } from './contacts';
import { Lead } from './leads';
import type { OpportunityFields } from './opportunities';
import { Opportunity } from './opportunities';

/** Each entity's streams are named `<category>-<id>`. */
export const AUDIT_ENTITY_CATEGORIES = {
  LEAD: 'lead',
  LEAD_SCORE: 'leadscore',
  ACCOUNT: 'account',
  CONTACT: 'contact',
  OPPORTUNITY: 'opportunity',
} as const;
export type AuditEntity = keyof typeof AUDIT_ENTITY_CATEGORIES;

export const AuditEntityEnum = Object.fromEntries(Object.keys(AUDIT_ENTITY_CATEGORIES).map((key) => [key, key])) as {
  [K in AuditEntity]: K;
};
registerEnumType(AuditEntityEnum, {
  name: 'AuditEntity',
  description:
    'The kind of entity whose streams to list: LEAD is every stream named lead-<id>, and so on; LEAD_SCORE the ' +
    'leads\' automatic scores (leadscore-<lead id>)',
});

@InputType({ description: 'A time range: from inclusive, to exclusive; either end may be left open' })
export class AuditTimeRange {
  @Field(() => DateTimeScalar, { nullable: true }) @IsOptional() from?: Date;
  @Field(() => DateTimeScalar, { nullable: true }) @IsOptional() to?: Date;
}

@InputType({ description: 'Every condition given must hold' })
export class AuditFilter {
  @Field(() => String, { nullable: true, description: 'Who issued the command (the token subject)' })
  @IsOptional()
  @Length(1, 200)
  actor?: string;

  @Field(() => AuditEntityEnum, { nullable: true })
  @IsOptional()
  entity?: AuditEntity;

  @Field(() => ID, { nullable: true, description: 'One stream, e.g. lead-<id>' })
  @IsOptional()
  @Length(1, 300)
  streamId?: string;

  @Field(() => [String], { nullable: true, description: 'Event types, any of them (e.g. LeadConverted)' })
  @IsOptional()
  @ArrayMaxSize(50)
  @IsString({ each: true })
  @MaxLength(100, { each: true })
  types?: string[];

  @Field(() => String, { nullable: true, description: 'Everything one request caused' })
  @IsOptional()
  @Length(1, 200)
  correlationId?: string;

  @Field(() => AuditTimeRange, { nullable: true, description: 'When the facts were recorded' })
  @IsOptional()
  @ValidateNested()
  recordedAt?: AuditTimeRange;

  @Field(() => AuditTimeRange, { nullable: true, description: 'When the facts happened in the business' })
  @IsOptional()
  @ValidateNested()
  occurredAt?: AuditTimeRange;
}

export const RecordedEventConnection = connectionOf(
  'RecordedEvent',
  RecordedEventType,
  'Events in the order the log recorded them',
);
export type RecordedEventConnection = Connection<RecordedEventType>;

@ObjectType({ description: 'What a converted lead became, and every fact that took part, in log order' })
export class ConversionTrace {
  @Field(() => Lead) lead!: Lead;

  @Field(() => Account, { nullable: true, description: 'Null only while the read models catch up' })
  account?: Account;

  @Field(() => Contact, { nullable: true, description: 'Null only while the read models catch up' })
  contact?: Contact;

  @Field(() => Opportunity, { nullable: true, description: 'Null when the conversion opened none' })
  opportunity?: OpportunityFields;

  @Field(() => RecordedEventType, { description: 'The LeadConverted event: the decision itself' })
  conversion!: RecordedEventType;

  @Field(() => [RecordedEventType], {
    description:
      "The lead's events up to and including LeadConverted (earlier cycles too), then the events it caused on the account, contact and opportunity streams",
  })
  events!: RecordedEventType[];
}
