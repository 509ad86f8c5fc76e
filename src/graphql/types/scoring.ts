/** Scoring's GraphQL shapes. */
import { IsInt, IsNotEmpty, IsOptional, Length, Min } from 'class-validator';
import 'reflect-metadata';
import { Field, ID, InputType, Int, ObjectType } from 'type-graphql';
import { DateTimeScalar, JSONScalar } from '../shared/scalars';
import { Lead, ScoreContributionType } from './leads';

@InputType()
export class ScoreLeadInput {
  @Field(() => ID) @IsNotEmpty() leadId!: string;

  @Field(() => Int, { nullable: true, description: 'The revision you last read; a stale one is a CONFLICT' })
  @IsOptional()
  @IsInt()
  @Min(0)
  expectedRevision?: number;

  @Field(() => String, { nullable: true }) @IsOptional() @Length(1, 200) idempotencyKey?: string;
}

@ObjectType()
export class ScoreLeadPayload {
  @Field(() => Lead) lead!: Lead;
}

@InputType()
export class RescoreOpenLeadsInput {
  @Field(() => String, { nullable: true }) @IsOptional() @Length(1, 200) idempotencyKey?: string;
}

@ObjectType({ description: 'What re-scoring the open leads with the current rules did' })
export class RescoreOpenLeadsPayload {
  @Field(() => String) rulesVersion!: string;
  @Field(() => Int, { description: 'Open leads looked at' }) examined!: number;
  @Field(() => Int, { description: 'Leads given a new score (a LeadScored event each)' }) rescored!: number;
  @Field(() => Int, { description: 'Leads already scored alike by this version: nothing recorded' }) unchanged!: number;
  @Field(() => Int, { description: 'Leads converted or disqualified while the re-scoring ran' }) skipped!: number;
}

@ObjectType({ description: 'A recorded score next to the same score recomputed from its rules version' })
export class ScoreReproduction {
  @Field(() => ID) leadId!: string;
  @Field(() => String) rulesVersion!: string;
  @Field(() => DateTimeScalar) scoredAt!: Date;
  @Field(() => Int) recordedScore!: number;
  @Field(() => [ScoreContributionType]) recordedBreakdown!: ScoreContributionType[];
  @Field(() => Int) reproducedScore!: number;
  @Field(() => [ScoreContributionType]) reproducedBreakdown!: ScoreContributionType[];
  @Field(() => Boolean, { description: 'The recomputed score and breakdown equal the recorded ones' }) matches!: boolean;
}

@ObjectType({ description: 'A version of the lead scoring rules' })
export class ScoringRulesVersion {
  @Field(() => String) version!: string;
  @Field(() => String, { description: 'Digest of the definition' }) hash!: string;
  @Field(() => JSONScalar, { description: 'The rules, as in CRM_SCORING_FILE' }) definition!: unknown;
}
