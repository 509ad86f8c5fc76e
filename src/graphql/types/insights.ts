/** The insights' GraphQL shapes: KPIs served by read models, and retrospectives by replay. */
import { ArrayUnique, IsIn, IsOptional, Matches } from 'class-validator';
import 'reflect-metadata';
import { ArgsType, Field, Float, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { KPI_DIMENSIONS, LEAD_ORIGINS, type KpiDimension, type LeadOrigin } from '../../domain/insights/definitions';
import type { LeadListKind } from '../../domain/leadLists/events';
import type { RestatedKpi } from '../../useCases/kpiRestatements';
import type { LeadSource } from '../../domain/leads/lead';
import { enumOf, Money, PageInfo, Reason } from '../shared/common';
import { SALES_FIGURES } from '../shared/roles';
import { DateTimeScalar } from '../shared/scalars';
import { LeadListKindEnum } from './leadLists';
import { LeadSourceEnum } from './leads';
import { PipelineReport } from './opportunities';

export const KpiDimensionEnum = enumOf(KPI_DIMENSIONS);
registerEnumType(KpiDimensionEnum, {
  name: 'KpiDimension',
  description: 'What a KPI can be cut by',
  valuesConfig: {
    SOURCE: { description: 'The source of the lead cycle (for an opportunity: of the lead cycle converted into it)' },
    CAMPAIGN: { description: 'The campaign of the lead cycle, likewise' },
    OWNER: {
      description: "The owner: a lead cycle's latest owner during the cycle, an opportunity's current owner",
    },
    MONTH: { description: "The calendar month (UTC, YYYY-MM) of the fact's own time, stated by each KPI" },
    LIST: {
      description:
        'The lead lists the lead (for an opportunity: the lead converted into it) is in now: a static list\'s members, ' +
        "the leads a dynamic list's filter matches now; archived lists too. A fact counts once in each of its lead's " +
        'lists, so the groups can add up to more than the total; a lead in no list (and an opportunity not from a lead) ' +
        'is under a null list. Now even with knownAt: the lists are a lens on the facts, not facts themselves',
    },
    ORIGIN: {
      description:
        'NEW: a lead cycle of a new lead; RE_ENGAGED: of an existing contact brought back (engageContact). A recycled ' +
        "cycle keeps its capture's origin; an opportunity has its lead cycle's (null when not from a lead)",
    },
  },
});

export const LeadOriginEnum = enumOf(LEAD_ORIGINS);
registerEnumType(LeadOriginEnum, {
  name: 'LeadOrigin',
  description: 'Where a lead cycle comes from',
  valuesConfig: {
    NEW: { description: 'A new lead: a person who was not a contact' },
    RE_ENGAGED: { description: 'An existing contact engaged again, in a lead cycle of its own' },
  },
});

@ArgsType()
export class KpiArgs {
  @Field(() => DateTimeScalar, { description: 'Start of the period, included (business time, occurredAt)' })
  from!: Date;

  @Field(() => DateTimeScalar, { description: 'End of the period, excluded' })
  to!: Date;

  @Field(() => [KpiDimensionEnum], { nullable: true, description: 'The dimensions to cut by; none gives one total' })
  @IsOptional()
  @ArrayUnique()
  @IsIn(KPI_DIMENSIONS, { each: true })
  groupBy?: KpiDimension[];

  @Field(() => String, {
    nullable: true,
    description: "The currency amounts are reported in (the pipeline's by default); others are in amountByCurrency",
  })
  @IsOptional()
  @Matches(/^[A-Z]{3}$/, { message: 'currency must be a three-letter ISO 4217 code such as EUR' })
  currency?: string;
}

/** The arguments of `kpis` and `retrospective`: a period, and the time the figures were known at. */
@ArgsType()
export class KpiKnownAtArgs extends KpiArgs {
  @Field(() => DateTimeScalar, {
    nullable: true,
    description:
      'Only the events recorded by then count: the figures as we knew them at that time. Now when absent. ' +
      'A cut by LIST still uses the lists as they are now',
  })
  knownAt?: Date;
}

@ArgsType()
export class KpiRestatementArgs extends KpiArgs {
  @Field(() => DateTimeScalar, {
    description: 'The facts recorded after this time are looked at: when the figures were reported, say',
  })
  since!: Date;

  @Field(() => Int, { nullable: true, description: 'How many restatements: at most 200, 50 when omitted' })
  first?: number;

  @Field(() => String, { nullable: true, description: "The page before's pageInfo.endCursor: the restatements after it" })
  after?: string;
}

@ObjectType({ description: 'A lead list a KPI group is about, as it is now' })
export class KpiList {
  @Field(() => ID) id!: string;
  @Field(() => String) name!: string;
  @Field(() => LeadListKindEnum) kind!: LeadListKind;
  @Field(() => Boolean) archived!: boolean;
}

@ObjectType({ description: 'Which group a KPI row is about; a dimension not grouped by is null' })
export class KpiGroup {
  @Field(() => LeadSourceEnum, { nullable: true, description: 'Null too for an opportunity not from a lead' })
  source?: LeadSource;

  @Field(() => String, { nullable: true }) campaign?: string;
  @Field(() => ID, { nullable: true }) ownerId?: string;
  @Field(() => String, { nullable: true, description: 'YYYY-MM, UTC' }) month?: string;

  @Field(() => ID, { nullable: true, description: 'Grouped by LIST: the list; null for the facts whose lead is in no list' })
  listId?: string;

  @Field(() => LeadOriginEnum, { nullable: true, description: 'Grouped by ORIGIN; null too for an opportunity not from a lead' })
  origin?: LeadOrigin;
}

@ObjectType({
  description:
    'A cohort: the lead cycles captured (or recycled) in the period, by their month of capture, and how far each ' +
    'has got by now (facts recorded so far). A recycled lead counts once per cycle.',
})
export class LeadFunnelKpi {
  @Field(() => KpiGroup) group!: KpiGroup;
  @Field(() => Int, { description: 'Lead cycles captured in the period' }) captured!: number;
  @Field(() => Int, {
    description:
      'Of those, reached: a contact logged with outcome REACHED at any time in the cycle (attempts with other ' +
      'outcomes do not count; a lead qualified without a reached contact is not counted)',
  })
  contacted!: number;

  @Field(() => Int, { description: 'Of those, qualified at all (MQL or straight to SQL)' }) reachedMql!: number;
  @Field(() => Int, { description: 'Of those, qualified as SQL' }) reachedSql!: number;
  @Field(() => Int) disqualified!: number;
  @Field(() => Int) converted!: number;
  @Field(() => Float, { nullable: true, description: 'contacted / captured' }) contactRate?: number;
  @Field(() => Float, { nullable: true, description: 'reachedMql / captured' }) mqlRate?: number;
  @Field(() => Float, { nullable: true, description: 'reachedSql / captured' }) sqlRate?: number;
  @Field(() => Float, { nullable: true, description: 'converted / captured' }) conversionRatio?: number;
}

@ObjectType()
export class ReasonShare {
  @Field(() => Reason) reason!: Reason;
  @Field(() => Int) count!: number;
  @Field(() => Float, { nullable: true, description: "count / the group's total" }) share?: number;
}

@ObjectType({
  description: 'Lead cycles disqualified in the period (by the disqualification time and its month), by reason',
})
export class DisqualificationReasonKpi {
  @Field(() => KpiGroup) group!: KpiGroup;
  @Field(() => Int) total!: number;
  @Field(() => [ReasonShare], { description: 'Most frequent first' }) reasons!: ReasonShare[];
}

@ObjectType({ description: 'Some of the lost opportunities of a group' })
export class LossSlice {
  @Field(() => Int) count!: number;
  @Field(() => Float, { nullable: true, description: "count / the group's total" }) share?: number;
  @Field(() => Money, { description: 'Their amounts in the report currency, summed exactly' }) amount!: Money;

  @Field(() => Float, { nullable: true, description: "amount / the group's amount (null when that is 0)" })
  amountShare?: number;

  @Field(() => [Money], { description: 'Every currency present' }) amountByCurrency!: Money[];
}

@ObjectType()
export class LossReasonSlice extends LossSlice {
  @Field(() => Reason) reason!: Reason;
}

@ObjectType()
export class LossCompetitorSlice extends LossSlice {
  @Field(() => String, { nullable: true, description: 'Null: no competitor named' }) competitor?: string;
}

@ObjectType()
export class LossStageSlice extends LossSlice {
  @Field(() => String, { description: 'The stage code at which it was lost' }) stage!: string;
  @Field(() => String) label!: string;
}

@ObjectType({
  description:
    'Opportunities whose close as LOST happened in the period (by the close time and its month), counted once, ' +
    'with the amount at close. A reopened opportunity no longer counts, unless lost again.',
})
export class LossReasonKpi {
  @Field(() => KpiGroup) group!: KpiGroup;
  @Field(() => Int) total!: number;
  @Field(() => Money) amount!: Money;
  @Field(() => [Money]) amountByCurrency!: Money[];
  @Field(() => [LossReasonSlice], { description: 'Most frequent first' }) reasons!: LossReasonSlice[];
  @Field(() => [LossCompetitorSlice]) competitors!: LossCompetitorSlice[];
  @Field(() => [LossStageSlice]) stages!: LossStageSlice[];
}

@ObjectType({
  description:
    'Opportunities whose latest close (WON or LOST) happened in the period, by the close time and its month',
})
export class SalesOutcomeKpi {
  @Field(() => KpiGroup) group!: KpiGroup;
  @Field(() => Int) closed!: number;
  @Field(() => Int) won!: number;
  @Field(() => Int) lost!: number;
  @Field(() => Float, { nullable: true, description: 'won / closed' }) winRate?: number;
  @Field(() => Money, { description: 'Final amounts of the won ones in the report currency' }) wonAmount!: Money;

  @Field(() => Money, { nullable: true, description: 'wonAmount / the won in that currency, truncated to 10 decimals' })
  averageWonAmount?: Money;

  @Field(() => Float, { nullable: true, description: 'Mean days from opened to closed (business time), won and lost' })
  averageSalesCycleDays?: number;

  @Field(() => Float, { nullable: true, description: 'The same, won only' }) averageWonSalesCycleDays?: number;
}

@ObjectType()
export class StageTime {
  @Field(() => String) stage!: string;
  @Field(() => String) label!: string;
  @Field(() => Int, { description: 'Stays at this stage that ended in the period' }) stays!: number;
  @Field(() => Float) totalDays!: number;
  @Field(() => Float, { nullable: true }) averageDays?: number;
}

@ObjectType({
  description:
    'Time spent in each stage: the stays that ended in the period (moved on, or closed), by the month they ended. ' +
    'A stay still running is not counted; a reopen starts a new stay. In pipeline order.',
})
export class StageTimeKpi {
  @Field(() => KpiGroup) group!: KpiGroup;
  @Field(() => [StageTime]) stages!: StageTime[];
}

@ObjectType({
  description:
    'The pipeline value of the opportunities opened in the period that are open now, by stage, weighted and not, ' +
    'by the month they were opened. A period that covers all time gives the whole pipeline.',
})
export class PipelineValueKpi {
  @Field(() => KpiGroup) group!: KpiGroup;
  @Field(() => PipelineReport) pipeline!: PipelineReport;
}

export const KPI_FIELDS = {
  leadFunnel: 'Lead conversion ratio, contact and qualification rates',
  disqualificationReasons: 'Why lead cycles were disqualified',
  lossReasons: 'Why opportunities were lost: by reason, competitor and stage, by count and amount',
  salesOutcomes: 'Win rate, won amounts, sales-cycle length',
  timeInStage: 'Time spent in each stage',
  pipelineValue: 'Pipeline value by stage, weighted and unweighted',
};

/** What a KPI report and a retrospective both hold; the descriptions say how each is computed. */
@ObjectType({ description: 'Never used on its own: what KpiReport and Retrospective share' })
abstract class KpiFigures {
  @Field(() => DateTimeScalar) from!: Date;
  @Field(() => DateTimeScalar) to!: Date;
  @Field(() => [KpiDimensionEnum]) groupBy!: KpiDimension[];
  @Field(() => String) currency!: string;
  @Field(() => [LeadFunnelKpi], { description: KPI_FIELDS.leadFunnel }) leadFunnel!: LeadFunnelKpi[];

  @Field(() => [DisqualificationReasonKpi], { description: KPI_FIELDS.disqualificationReasons })
  disqualificationReasons!: DisqualificationReasonKpi[];

  @Field(() => [LossReasonKpi], { description: `${KPI_FIELDS.lossReasons} Roles: ${SALES_FIGURES.join(', ')}.` }) lossReasons!: LossReasonKpi[];
  @Field(() => [SalesOutcomeKpi], { description: `${KPI_FIELDS.salesOutcomes} Roles: ${SALES_FIGURES.join(', ')}.` }) salesOutcomes!: SalesOutcomeKpi[];
  @Field(() => [StageTimeKpi], { description: `${KPI_FIELDS.timeInStage} Roles: ${SALES_FIGURES.join(', ')}.` }) timeInStage!: StageTimeKpi[];
  @Field(() => [PipelineValueKpi], { description: `${KPI_FIELDS.pipelineValue} Roles: ${SALES_FIGURES.join(', ')}.` }) pipelineValue!: PipelineValueKpi[];
}

@ObjectType({
  description:
    'KPIs over a period, served by read models (no scan of the event log), as known now or at knownAt. Each list ' +
    'has one row per group that has facts, groups in key order.',
})
export class KpiReport extends KpiFigures {
  @Field(() => DateTimeScalar, { nullable: true, description: 'As asked: the figures as known then; null for now' })
  knownAt?: Date;
}

@ObjectType({
  description:
    'The same KPIs recomputed by replaying the event log from its start, without read models; with knownAt, ' +
    'from the events recorded by then only. Slow on a large log: for analysts, not dashboards.',
})
export class Retrospective extends KpiFigures {
  @Field(() => DateTimeScalar, { nullable: true }) knownAt?: Date;
  @Field(() => Int, { description: 'Lead and opportunity events folded' }) eventsReplayed!: number;
}

// ---------------------------------------------------------------------------------------------
// Restatements
// ---------------------------------------------------------------------------------------------

/** The KPIs whose figures a restatement compares, by the name of their field in `kpis`. */
export const RESTATED_KPI_NAMES = {
  leadFunnel: 'LEAD_FUNNEL',
  disqualificationReasons: 'DISQUALIFICATION_REASONS',
  lossReasons: 'LOSS_REASONS',
  salesOutcomes: 'SALES_OUTCOMES',
} as const satisfies Record<RestatedKpi, string>;
export type RestatedKpiName = (typeof RESTATED_KPI_NAMES)[RestatedKpi];

export const RestatedKpiEnum = enumOf(Object.values(RESTATED_KPI_NAMES));
registerEnumType(RestatedKpiEnum, {
  name: 'RestatedKpi',
  description: 'A KPI whose figures kpiRestatements compares: the kpis field of the same name (leadFunnel...)',
});

@ObjectType({ description: 'One figure of a KPI row that a fact moved' })
export class KpiFigureChange {
  @Field(() => RestatedKpiEnum) kpi!: RestatedKpiName;
  @Field(() => KpiGroup) group!: KpiGroup;

  @Field(() => String, {
    description:
      "The figure's field in the KPI's row (won, winRate, wonAmount...); in a breakdown, the list and the field: " +
      'reasons.count, reasons.amount, competitors.count, stages.amount, amountByCurrency',
  })
  figure!: string;

  @Field(() => String, {
    nullable: true,
    description:
      'In a breakdown, which item: a reason or stage code, a competitor (null: none named), a currency; null otherwise',
  })
  item?: string;

  @Field(() => String, {
    nullable: true,
    description:
      'The figure before, as text: a count, a ratio, a decimal amount in the report currency (or the currency of ' +
      'amountByCurrency); null when the row or the figure had none',
  })
  before?: string;

  @Field(() => String, { nullable: true, description: 'The figure after, likewise' }) after?: string;
}

@ObjectType({ description: 'A fact recorded after since that moved the figures of the period, and how' })
export class KpiRestatement {
  @Field(() => ID) eventId!: string;
  @Field(() => String) eventType!: string;
  @Field(() => ID) streamId!: string;
  @Field(() => Int) revision!: number;
  @Field(() => DateTimeScalar, { description: 'When it happened in the business' }) occurredAt!: Date;
  @Field(() => DateTimeScalar, { description: 'When it was recorded: after since' }) recordedAt!: Date;
  @Field(() => ID, { description: 'Who recorded it' }) actor!: string;
  @Field(() => [KpiFigureChange], { description: 'Every figure it moved, KPI by KPI and group by group' })
  changes!: KpiFigureChange[];
}

@ObjectType({
  description:
    "What moved a period's KPIs after since: the facts recorded since then that changed the figures of " +
    'leadFunnel, disqualificationReasons, lossReasons or salesOutcomes over the period, served by read models',
})
export class KpiRestatements {
  @Field(() => DateTimeScalar) from!: Date;
  @Field(() => DateTimeScalar) to!: Date;
  @Field(() => DateTimeScalar) since!: Date;
  @Field(() => [KpiDimensionEnum]) groupBy!: KpiDimension[];
  @Field(() => String) currency!: string;
  @Field(() => [KpiRestatement], { description: 'A page of them (first, after), in the order recorded' })
  restatements!: KpiRestatement[];

  @Field(() => PageInfo, { description: 'Whether more restatements follow this page, and the cursor to ask them after' })
  pageInfo!: PageInfo;
}
