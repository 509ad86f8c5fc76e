/** Scoring's GraphQL shapes. */
import { IsInt, IsNotEmpty, IsOptional, Length, Min } from 'class-validator';
import 'reflect-metadata';
import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import type { ScoringJob as ScoringJobView } from '../../useCases/scoringJobs';
import { enumOf } from '../shared/common';
import { DateTimeScalar, JSONScalar } from '../shared/scalars';
import { Lead, ScoreContributionType } from './leads';

export const ScoringJobStatusEnum = enumOf(['RUNNING', 'SUCCEEDED', 'FAILED'] as const);
registerEnumType(ScoringJobStatusEnum, {
  name: 'ScoringJobStatus',
  description:
    'RUNNING: started, or waiting to be taken up again after its process died; SUCCEEDED: every open lead ' +
    'examined; FAILED: stopped on an error (see `error`), start another',
});

@ObjectType({ description: 'A re-scoring of every open lead, run in the background (rescoreOpenLeads)' })
export class ScoringJob {
  @Field(() => ID) id!: string;
  @Field(() => ScoringJobStatusEnum) status!: ScoringJobView['status'];
  @Field(() => String, { description: 'The version of the rules it scores with' }) rulesVersion!: string;
  @Field(() => String, { description: 'Who started it: the scores it records name them as their actor' }) startedBy!: string;
  @Field(() => DateTimeScalar) startedAt!: Date;
  @Field(() => DateTimeScalar, { nullable: true, description: 'When it succeeded or failed' }) finishedAt?: Date;
  @Field(() => DateTimeScalar, { description: 'When it last recorded progress' }) updatedAt!: Date;
  @Field(() => Int, { description: 'Open leads when it started (leads captured meanwhile may be examined too)' }) total!: number;
  @Field(() => Int, { description: 'Open leads looked at so far' }) examined!: number;
  @Field(() => Int, { description: 'Leads given a new score (a LeadRescored event each, on the lead’s score stream)' })
  rescored!: number;
  @Field(() => Int, { description: 'Leads whose latest score already was this version’s: nothing recorded' }) unchanged!: number;
  @Field(() => Int, { description: 'Leads converted or disqualified before the job reached them' }) skipped!: number;
  @Field(() => String, { nullable: true, description: 'Why it failed' }) error?: string;
}

export const toScoringJob = (job: ScoringJobView): ScoringJob => ({
  ...job,
  startedAt: new Date(job.startedAt),
  finishedAt: job.finishedAt === null ? undefined : new Date(job.finishedAt),
  updatedAt: new Date(job.updatedAt),
  error: job.error ?? undefined,
});

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

const SO_FAR = 'The job’s count when it was answered; follow the job with scoringJob(id)';

@ObjectType({ description: 'The re-scoring job started (or already running), answered before it has done its work' })
export class RescoreOpenLeadsPayload {
  @Field(() => ScoringJob) job!: ScoringJob;
  @Field(() => String) rulesVersion!: string;
  @Field(() => Int, { deprecationReason: SO_FAR }) examined!: number;
  @Field(() => Int, { deprecationReason: SO_FAR }) rescored!: number;
  @Field(() => Int, { deprecationReason: SO_FAR }) unchanged!: number;
  @Field(() => Int, { deprecationReason: SO_FAR }) skipped!: number;
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
  @Field(() => Boolean, {
    description: 'True for a score recorded without a command on the lead (LeadRescored: the lead scorer, or a re-scoring job)',
  })
  automatic!: boolean;
  @Field(() => Int, { description: 'The revision of the lead’s stream the score was computed from' }) basedOnRevision!: number;
}

@ObjectType({ description: 'A version of the lead scoring rules' })
export class ScoringRulesVersion {
  @Field(() => String) version!: string;
  @Field(() => String, { description: 'Digest of the definition' }) hash!: string;
  @Field(() => JSONScalar, { description: 'The rules, as in CRM_SCORING_FILE' }) definition!: unknown;
}
