/**
 * The bulk import's GraphQL shapes. A row is a captureLead input whose enum and date fields are
 * plain strings, checked row by row: one bad row is answered in its own result and never fails
 * the others (GraphQL would refuse the whole request for one unknown enum value).
 */
import { ArrayMaxSize, IsIn, IsISO8601, IsOptional, Length, MaxLength, ValidateNested } from 'class-validator';
import 'reflect-metadata';
import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { LEAD_SOURCES } from '../../domain/leads/lead';
import { enumOf, SHORT } from '../shared/common';
import { DuplicateCandidate } from './duplicates';
import { CompanyInput, InterestInput, PersonInput } from './leads';

export const MAX_IMPORT_ROWS = 500;

export const IMPORT_OUTCOMES = ['CREATED', 'ALREADY_IMPORTED', 'VALID', 'DUPLICATE_SKIPPED', 'REJECTED'] as const;
export type ImportOutcome = (typeof IMPORT_OUTCOMES)[number];
export const ImportOutcomeEnum = enumOf(IMPORT_OUTCOMES);
registerEnumType(ImportOutcomeEnum, {
  name: 'ImportOutcome',
  description:
    'CREATED: a new lead. ALREADY_IMPORTED: the same row (same idempotency key and content) made its lead before. ' +
    'VALID: a dry run found nothing wrong. DUPLICATE_SKIPPED: with skipDuplicates, a row that may be a person already known ' +
    '(see duplicates). REJECTED: see errors',
});

/** As PersonInput, with a missing last name refused per row (by PersonInput's own check), not per request. */
@InputType()
export class ImportPersonInput extends PersonInput {
  @Field(() => String, { nullable: true, description: 'Required: a row without it is rejected' })
  // An initial '' lets PersonInput's IsNotEmpty answer a missing name, and only it.
  override lastName: string = '';
}

@InputType()
export class ImportLeadRowInput {
  @Field(() => String, { nullable: true, description: 'Makes the row idempotent: the same key and content create one lead, once' })
  @IsOptional()
  @Length(1, 200)
  idempotencyKey?: string;

  @Field(() => String, { description: `One of ${LEAD_SOURCES.join(', ')}` })
  @IsIn(LEAD_SOURCES, { message: `source must be one of ${LEAD_SOURCES.join(', ')}` })
  source!: string;

  @Field(() => String, { nullable: true, description: 'When the lead was captured (ISO-8601): its business time, however long ago' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'occurredAt must be an ISO-8601 date and time' })
  occurredAt?: string;

  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(SHORT) campaign?: string;
  @Field(() => ImportPersonInput, { nullable: true }) @IsOptional() @ValidateNested() person?: ImportPersonInput;
  @Field(() => CompanyInput, { nullable: true }) @IsOptional() @ValidateNested() company?: CompanyInput;
  @Field(() => InterestInput, { nullable: true }) @IsOptional() @ValidateNested() interest?: InterestInput;
  @Field(() => ID, { nullable: true }) @IsOptional() @Length(1, SHORT) ownerId?: string;
}

@InputType()
export class ImportLeadsInput {
  @Field(() => [ImportLeadRowInput], { description: `At most ${MAX_IMPORT_ROWS} rows` })
  @ArrayMaxSize(MAX_IMPORT_ROWS)
  rows!: ImportLeadRowInput[];

  @Field(() => ID, { nullable: true, description: 'A static list to put the imported leads into' })
  @IsOptional()
  @Length(1, SHORT)
  listId?: string;

  @Field(() => Boolean, { nullable: true, description: 'Check every row as an import would, and write nothing' })
  dryRun?: boolean;

  @Field(() => Boolean, {
    nullable: true,
    description:
      'Leave out rows that may be a person already known (an open lead or a contact with the same e-mail, or the same ' +
      'name at the same company, or an earlier row of this request); without it they are captured and carry possibleDuplicates',
  })
  skipDuplicates?: boolean;
}

@ObjectType()
export class ImportFieldProblem {
  @Field(() => String) field!: string;
  @Field(() => String) message!: string;
}

@ObjectType()
export class ImportLeadRowResult {
  @Field(() => Int, { description: 'The row’s index in `rows`, from 0' }) index!: number;
  @Field(() => ImportOutcomeEnum) outcome!: ImportOutcome;
  @Field(() => ID, { nullable: true }) leadId?: string;
  @Field(() => String, { nullable: true, description: 'The error code a captureLead of this row would answer' }) code?: string;
  @Field(() => String, { nullable: true }) message?: string;
  @Field(() => [ImportFieldProblem]) errors!: ImportFieldProblem[];
  @Field(() => [DuplicateCandidate], { description: 'Who the row may be (a skipped duplicate, or a lead captured all the same)' })
  duplicates!: DuplicateCandidate[];
}

@ObjectType()
export class ImportLeadsPayload {
  @Field(() => Int) created!: number;
  @Field(() => Int) alreadyImported!: number;
  @Field(() => Int) valid!: number;
  @Field(() => Int) duplicatesSkipped!: number;
  @Field(() => Int) rejected!: number;
  @Field(() => [ImportLeadRowResult]) results!: ImportLeadRowResult[];
}
