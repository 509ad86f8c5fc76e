/** What subscriptions send: the entity after the change and the event that changed it. */
import 'reflect-metadata';
import { Field, ID, InputType, ObjectType } from 'type-graphql';
import { ArrayMaxSize, IsOptional, MaxLength } from 'class-validator';
import { RecordedEventType, SHORT } from '../shared/common';
import { Lead } from './leads';
import { Opportunity, PipelineReport } from './opportunities';

@ObjectType({ description: 'A change of a lead, sent once the read models include it' })
export class LeadChange {
  @Field(() => String, { description: 'The event that changed it (LeadCaptured, LeadQualified...)' }) eventType!: string;
  @Field(() => ID) eventId!: string;
  @Field(() => String, { description: "The event's position in the log" }) position!: string;
  @Field(() => Lead) lead!: Lead;
}

@ObjectType({ description: 'A change of an opportunity, sent once the read models include it' })
export class OpportunityChange {
  @Field(() => String) eventType!: string;
  @Field(() => ID) eventId!: string;
  @Field(() => String) position!: string;
  @Field(() => Opportunity) opportunity!: unknown;
}

@ObjectType({ description: 'The pipeline figures after a change that moved them' })
export class PipelineChange {
  @Field(() => String) eventType!: string;
  @Field(() => String) position!: string;
  @Field(() => PipelineReport) pipeline!: PipelineReport;
}

@InputType()
export class EventFilter {
  @Field(() => [String], { nullable: true, description: 'Only events of these types' })
  @IsOptional()
  @ArrayMaxSize(100)
  types?: string[];

  @Field(() => String, { nullable: true, description: 'Only events of streams whose id starts so (lead-, opportunity-...)' })
  @IsOptional()
  @MaxLength(SHORT)
  streamPrefix?: string;
}

export { RecordedEventType };
