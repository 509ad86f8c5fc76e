/** The lead list's GraphQL shapes: what clients send (inputs, validated) and what they read. */
import { ArrayMaxSize, ArrayMinSize, IsOptional, Length, MaxLength, ValidateNested } from 'class-validator';
import 'reflect-metadata';
import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import type { LeadListView } from '../../../projections/leadLists/leadListView';
import { MAX_ASSIGNMENT_OWNERS, MAX_LEADS_PER_LIST_COMMAND } from '../../domain/leadLists/decide';
import { ASSIGNMENT_STRATEGIES, LEAD_LIST_KINDS, type AssignmentStrategy, type LeadListKind } from '../../domain/leadLists/events';
import type { LeadRank, LeadSource, LeadStatus } from '../../domain/leads/lead';
import { connectionOf, enumOf, LONG, MutationInput, payloadOf, RevisedMutationInput, SHORT } from '../shared/common';
import { DateTimeScalar } from '../shared/scalars';
import { LeadRankEnum, LeadSourceEnum, LeadStatusEnum } from './leads';

export const LeadListKindEnum = enumOf(LEAD_LIST_KINDS);
export const AssignmentStrategyEnum = enumOf(ASSIGNMENT_STRATEGIES);
registerEnumType(LeadListKindEnum, {
  name: 'LeadListKind',
  description: 'STATIC: the leads put into it. DYNAMIC: the leads its saved filter matches when asked',
});
registerEnumType(AssignmentStrategyEnum, {
  name: 'AssignmentStrategy',
  description: 'ROUND_ROBIN: in turn, in the order the owners are named. LEAST_LOADED: each lead to the owner with the fewest open leads',
});

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

@InputType({ description: 'A dynamic list saves the fields of a lead filter' })
export class SavedLeadFilterInput {
  @Field(() => LeadStatusEnum, { nullable: true }) status?: LeadStatus;
  @Field(() => LeadRankEnum, { nullable: true }) rank?: LeadRank;
  @Field(() => LeadSourceEnum, { nullable: true }) source?: LeadSource;
  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(SHORT) campaign?: string;
  @Field(() => ID, { nullable: true }) @IsOptional() @MaxLength(SHORT) ownerId?: string;
  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(SHORT) search?: string;
  @Field(() => Int, { nullable: true }) minScore?: number;
}

@InputType()
export class CreateLeadListInput extends MutationInput {
  @Field(() => String) @Length(1, SHORT) name!: string;
  @Field(() => LeadListKindEnum, { nullable: true, description: 'STATIC unless a filter makes it DYNAMIC' }) kind?: LeadListKind;
  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(LONG) description?: string;
  @Field(() => SavedLeadFilterInput, { nullable: true, description: 'A dynamic list only' })
  @IsOptional()
  @ValidateNested()
  filter?: SavedLeadFilterInput;

  @Field(() => [ID], { nullable: true, description: `A static list's first leads (at most ${MAX_LEADS_PER_LIST_COMMAND})` })
  @IsOptional()
  @ArrayMaxSize(MAX_LEADS_PER_LIST_COMMAND)
  leadIds?: string[];
}

@InputType()
export class RenameLeadListInput extends RevisedMutationInput {
  @Field(() => ID) listId!: string;
  @Field(() => String) @Length(1, SHORT) name!: string;
}

@InputType()
export class LeadListMembersInput extends RevisedMutationInput {
  @Field(() => ID) listId!: string;
  @Field(() => [ID], { description: `At most ${MAX_LEADS_PER_LIST_COMMAND} at a time` })
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_LEADS_PER_LIST_COMMAND)
  leadIds!: string[];
}

@InputType()
export class ArchiveLeadListInput extends RevisedMutationInput {
  @Field(() => ID) listId!: string;
}

@InputType()
export class AssignLeadListInput extends MutationInput {
  @Field(() => ID) listId!: string;

  @Field(() => [ID], { description: 'The sales owners to deal the leads out to, in this order' })
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_ASSIGNMENT_OWNERS)
  owners!: string[];

  @Field(() => AssignmentStrategyEnum) strategy!: AssignmentStrategy;

  @Field(() => Boolean, {
    nullable: true,
    description: 'Only leads nobody owns (default true); false also reassigns owned ones (sales_manager, admin)',
  })
  onlyUnassigned?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Outputs
// ---------------------------------------------------------------------------------------------

@ObjectType()
export class SavedLeadFilter {
  @Field(() => LeadStatusEnum, { nullable: true }) status?: LeadStatus;
  @Field(() => LeadRankEnum, { nullable: true }) rank?: LeadRank;
  @Field(() => LeadSourceEnum, { nullable: true }) source?: LeadSource;
  @Field(() => String, { nullable: true }) campaign?: string;
  @Field(() => ID, { nullable: true }) ownerId?: string;
  @Field(() => String, { nullable: true }) search?: string;
  @Field(() => Int, { nullable: true }) minScore?: number;
}

@ObjectType()
export class LeadListAssignmentSummary {
  @Field(() => DateTimeScalar) at!: Date;
  @Field(() => String) by!: string;
  @Field(() => AssignmentStrategyEnum) strategy!: AssignmentStrategy;
  @Field(() => [ID]) owners!: string[];
  @Field(() => Boolean) onlyUnassigned!: boolean;
  @Field(() => Int, { description: 'Leads the assignment dealt out' }) planned!: number;
  @Field(() => Int, { description: 'Leads left as they were: owned already (onlyUnassigned), or no longer open' }) leftOut!: number;
}

@ObjectType()
export class LeadList {
  @Field(() => ID) id!: string;
  @Field(() => Int) revision!: number;
  @Field(() => String) name!: string;
  @Field(() => LeadListKindEnum) kind!: LeadListKind;
  @Field(() => String, { nullable: true }) description?: string;
  @Field(() => SavedLeadFilter, { nullable: true, description: "A dynamic list's filter" }) filter?: SavedLeadFilter;
  @Field(() => Boolean) archived!: boolean;
  @Field(() => LeadListAssignmentSummary, { nullable: true }) lastAssignment?: LeadListAssignmentSummary;
  @Field(() => DateTimeScalar) createdAt!: Date;
  @Field(() => String) createdBy!: string;
  @Field(() => DateTimeScalar) updatedAt!: Date;
  /** A static list's count as the read model keeps it (`leadCount` asks the leads only for a dynamic one). */
  storedLeadCount!: number;
}

export const LeadListConnection = connectionOf('LeadList', LeadList);
export type LeadListConnection = InstanceType<typeof LeadListConnection>;

export const LeadListPayload = payloadOf('LeadListPayload', 'list', LeadList);

@ObjectType()
export class AssignLeadListPayload {
  @Field(() => LeadList) list!: LeadList;
  @Field(() => Int, { description: 'Leads the plan dealt out' }) planned!: number;
  @Field(() => Int, { description: 'Leads whose owner this request (or an interrupted earlier run of it) changed' }) assigned!: number;
  @Field(() => Int, { description: 'Planned leads already with their planned owner' }) unchanged!: number;
  @Field(() => Int, { description: 'Planned leads closed (converted, disqualified) before their turn' }) skipped!: number;
  @Field(() => Int, { description: 'Leads of the list left out of the plan' }) leftOut!: number;
}

export const toLeadList = (view: LeadListView): LeadList => ({
  id: view.id,
  revision: view.revision,
  name: view.name,
  kind: view.kind,
  description: view.description,
  filter: view.filter,
  archived: view.status === 'ARCHIVED',
  lastAssignment: view.lastAssignment && { ...view.lastAssignment, at: new Date(view.lastAssignment.at) },
  createdAt: new Date(view.createdAt),
  createdBy: view.createdBy,
  updatedAt: new Date(view.updatedAt),
  storedLeadCount: view.leadCount,
});
