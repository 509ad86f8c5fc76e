/**
 * The KPIs from replayed facts, grouped and summed in memory: the other path to the figures
 * the read models serve (projections/kpis/kpiQueries.ts), held to the same definitions. The
 * sums take facts away as well as add them (`KpiSums`), so that a fact's change can be followed
 * group by group (src/useCases/kpiRestatements.ts).
 */
import type { Pipeline } from '../domain/opportunities/pipeline';
import type { PipelineRow } from '../domain/opportunities/pipelineReport';
import { toUnits } from '../domain/opportunities/money';
import { durationMs, groupKeyId, groupKeyOf, inPeriod, monthOf, type KpiAttribution, type KpiGroupKey } from '../domain/insights/definitions';
import {
  disqualificationReasonsOf,
  leadFunnelOf,
  lossReasonsOf,
  pipelineValueOf,
  salesOutcomesOf,
  timeInStageOf,
  type AmountCell,
  type FunnelCell,
  type KpiReport,
  type KpiRequest,
  type OutcomeCell,
  type PipelineCell,
  type ReasonCell,
  type StageTimeCell,
} from '../domain/insights/kpis';
import type { LeadCycleFact, OpportunityFact, ReplayedFacts } from './replayFacts';

/** 1 adds a fact to the sums, -1 takes it away again. */
export type Sign = 1 | -1;

/** Adds up cells by group and identity (whatever else tells them apart); a cell left with no fact goes. */
class Cells<Cell> {
  private readonly groups = new Map<string, Map<string, Cell>>();

  constructor(private readonly isEmpty: (cell: Cell) => boolean) {}

  add(group: string, identity: unknown[], create: () => Cell, update: (cell: Cell) => void): void {
    let cells = this.groups.get(group);
    if (cells === undefined) {
      cells = new Map();
      this.groups.set(group, cells);
    }
    const id = JSON.stringify(identity);
    let cell = cells.get(id);
    if (cell === undefined) {
      cell = create();
      cells.set(id, cell);
    }
    update(cell);
    if (this.isEmpty(cell)) cells.delete(id);
    if (cells.size === 0) this.groups.delete(group);
  }

  /** Every cell, or those of the groups named. */
  list(groups?: ReadonlySet<string>): Cell[] {
    const lists = groups === undefined ? [...this.groups.values()] : [...groups].map((group) => this.groups.get(group));
    return lists.flatMap((cells) => (cells === undefined ? [] : [...cells.values()]));
  }
}

const samePipelineRow = (a: PipelineRow, b: PipelineRow): boolean =>
  a.stage === b.stage && a.amount === b.amount && a.currency === b.currency && a.probability === b.probability;

export type KpiName = keyof KpiReport;

/** The groups (by `groupKeyId`) of each KPI: those a fact changed, or those a report is asked for. */
export type KpiGroups = Map<KpiName, Set<string>>;

const touch = (touched: KpiGroups, kpi: KpiName, group: string): void => {
  const groups = touched.get(kpi) ?? new Set<string>();
  touched.set(kpi, groups.add(group));
};

/** The cells of the KPIs over a period (every KPI, or those named), as facts are added and taken away. */
export class KpiSums {
  private readonly funnel = new Cells<FunnelCell>((cell) => cell.captured === 0);
  private readonly disqualifications = new Cells<ReasonCell>((cell) => cell.count === 0);
  private readonly losses = {
    byReason: new Cells<AmountCell>((cell) => cell.count === 0),
    byCompetitor: new Cells<AmountCell>((cell) => cell.count === 0),
    byStage: new Cells<AmountCell>((cell) => cell.count === 0),
  };
  private readonly outcomes = new Cells<OutcomeCell>((cell) => cell.count === 0);
  private readonly stageTimes = new Cells<StageTimeCell>((cell) => cell.stays === 0);
  private readonly pipelines = new Cells<PipelineCell>((cell) => cell.rows.length === 0);

  private readonly kpis: ReadonlySet<KpiName>;

  constructor(
    private readonly request: KpiRequest,
    kpis: readonly KpiName[] = ['leadFunnel', 'disqualificationReasons', 'lossReasons', 'salesOutcomes', 'timeInStage', 'pipelineValue'],
  ) {
    this.kpis = new Set(kpis);
  }

  private keyOf(attribution: KpiAttribution, at: string): KpiGroupKey {
    return groupKeyOf(this.request.groupBy, attribution, monthOf(at));
  }

  /** Adds a lead cycle (or takes it away); answers the groups whose cells it changed. */
  addCycle(cycle: LeadCycleFact, sign: Sign = 1): KpiGroups {
    const touched: KpiGroups = new Map();
    if (this.kpis.has('leadFunnel') && inPeriod(cycle.capturedAt, this.request)) {
      const key = this.keyOf(cycle, cycle.capturedAt);
      const group = groupKeyId(key);
      touch(touched, 'leadFunnel', group);
      this.funnel.add(
        group,
        [],
        () => ({ key, captured: 0, contacted: 0, reachedMql: 0, reachedSql: 0, disqualified: 0, converted: 0 }),
        (cell) => {
          cell.captured += sign;
          cell.contacted += cycle.contactedAt === undefined ? 0 : sign;
          cell.reachedMql += cycle.reachedMql ? sign : 0;
          cell.reachedSql += cycle.reachedSql ? sign : 0;
          cell.disqualified += cycle.disqualifiedAt === undefined ? 0 : sign;
          cell.converted += cycle.convertedAt === undefined ? 0 : sign;
        },
      );
    }
    if (this.kpis.has('disqualificationReasons') && cycle.disqualifiedAt !== undefined && inPeriod(cycle.disqualifiedAt, this.request)) {
      const key = this.keyOf(cycle, cycle.disqualifiedAt);
      const group = groupKeyId(key);
      touch(touched, 'disqualificationReasons', group);
      const code = cycle.disqualificationReason!;
      this.disqualifications.add(group, [code], () => ({ key, code, count: 0 }), (cell) => void (cell.count += sign));
    }
    return touched;
  }

  /** Adds an opportunity (or takes it away); answers the groups whose cells it changed. */
  addOpportunity(opportunity: OpportunityFact, sign: Sign = 1): KpiGroups {
    const touched: KpiGroups = new Map();
    const addAmount = (cells: Cells<AmountCell>, key: KpiGroupKey, value: string | null) => {
      const currency = opportunity.amount?.currency ?? null;
      cells.add(
        groupKeyId(key),
        [value, currency],
        () => ({ key, value, currency, count: 0, units: 0n }),
        (cell) => {
          cell.count += sign;
          cell.units += opportunity.amount ? BigInt(sign) * toUnits(opportunity.amount.amount) : 0n;
        },
      );
    };

    const { closedAt, status } = opportunity;
    const closes = this.kpis.has('salesOutcomes') || this.kpis.has('lossReasons');
    if (closes && closedAt !== undefined && status !== 'OPEN' && inPeriod(closedAt, this.request)) {
      const key = this.keyOf(opportunity, closedAt);
      const group = groupKeyId(key);
      const currency = opportunity.amount?.currency ?? null;
      if (this.kpis.has('salesOutcomes')) {
        touch(touched, 'salesOutcomes', group);
        this.outcomes.add(
          group,
          [status, currency],
          () => ({ key, value: status, currency, count: 0, units: 0n, cycleMs: 0 }),
          (cell) => {
            cell.count += sign;
            cell.units += opportunity.amount ? BigInt(sign) * toUnits(opportunity.amount.amount) : 0n;
            cell.cycleMs += sign * durationMs(opportunity.openedAt, closedAt);
          },
        );
      }
      if (this.kpis.has('lossReasons') && status === 'LOST') {
        touch(touched, 'lossReasons', group);
        addAmount(this.losses.byReason, key, opportunity.lossReason!);
        addAmount(this.losses.byCompetitor, key, opportunity.competitor ?? null);
        addAmount(this.losses.byStage, key, opportunity.stage);
      }
    }
    for (const stay of this.kpis.has('timeInStage') ? opportunity.stays : []) {
      const { leftAt } = stay;
      if (leftAt === undefined || !inPeriod(leftAt, this.request)) continue;
      const key = this.keyOf(opportunity, leftAt);
      const group = groupKeyId(key);
      touch(touched, 'timeInStage', group);
      this.stageTimes.add(
        group,
        [stay.stage],
        () => ({ key, stage: stay.stage, stays: 0, totalMs: 0 }),
        (cell) => {
          cell.stays += sign;
          cell.totalMs += sign * durationMs(stay.enteredAt, leftAt);
        },
      );
    }
    if (this.kpis.has('pipelineValue') && status === 'OPEN' && inPeriod(opportunity.openedAt, this.request)) {
      const key = this.keyOf(opportunity, opportunity.openedAt);
      const group = groupKeyId(key);
      touch(touched, 'pipelineValue', group);
      const { stage, amount, probability } = opportunity;
      const row = { stage, amount: amount?.amount ?? null, currency: amount?.currency ?? null, probability };
      this.pipelines.add(
        group,
        [],
        () => ({ key, rows: [] }),
        (cell) => {
          if (sign === 1) return void cell.rows.push(row);
          const index = cell.rows.findIndex((kept) => samePipelineRow(kept, row));
          if (index < 0) throw new Error(`Opportunity ${opportunity.opportunityId} taken away from sums it was not in`);
          cell.rows.splice(index, 1);
        },
      );
    }
    return touched;
  }

  /** The KPIs of every group, or only the KPIs and groups named (a KPI not summed has no rows). */
  report(pipeline: Pipeline, only?: ReadonlyMap<KpiName, ReadonlySet<string>>): KpiReport {
    const { currency } = this.request;
    const cellsOf = <Cell>(kpi: KpiName, cells: Cells<Cell>): Cell[] =>
      only === undefined ? cells.list() : only.has(kpi) ? cells.list(only.get(kpi)) : [];
    return {
      leadFunnel: leadFunnelOf(cellsOf('leadFunnel', this.funnel)),
      disqualificationReasons: disqualificationReasonsOf(cellsOf('disqualificationReasons', this.disqualifications)),
      lossReasons: lossReasonsOf(
        {
          byReason: cellsOf('lossReasons', this.losses.byReason),
          byCompetitor: cellsOf('lossReasons', this.losses.byCompetitor),
          byStage: cellsOf('lossReasons', this.losses.byStage),
        },
        currency,
      ),
      salesOutcomes: salesOutcomesOf(cellsOf('salesOutcomes', this.outcomes), currency),
      timeInStage: timeInStageOf(cellsOf('timeInStage', this.stageTimes), pipeline),
      pipelineValue: pipelineValueOf(cellsOf('pipelineValue', this.pipelines), pipeline, currency),
    };
  }
}

export const kpisFromFacts = (facts: ReplayedFacts, request: KpiRequest, pipeline: Pipeline): KpiReport => {
  const sums = new KpiSums(request);
  const copies = copiesToSum(request, facts.listsOfLead);
  for (const cycle of facts.cycles) for (const copy of copies(cycle)) sums.addCycle(copy);
  for (const opportunity of facts.opportunities) for (const copy of copies(opportunity)) sums.addOpportunity(copy);
  return sums.report(pipeline);
};

/**
 * The copies of a fact to sum: the fact itself; cut by LIST, one copy in each list its lead is in
 * now, and one under no list (null) when its lead is in none or it has no lead, as the read
 * models' join gives them.
 */
export const copiesToSum = (request: KpiRequest, listsOfLead: ReadonlyMap<string, readonly string[]> | undefined) => {
  const byList = request.groupBy.includes('LIST');
  if (byList && listsOfLead === undefined) throw new Error('A cut by LIST needs the lists each lead is in (replayFacts withLists)');
  return <Fact extends KpiAttribution & { leadId: string | null }>(fact: Fact): Fact[] => {
    if (!byList) return [fact];
    const lists = fact.leadId === null ? undefined : listsOfLead!.get(fact.leadId);
    return (lists === undefined || lists.length === 0 ? [null] : lists).map((listId) => ({ ...fact, listId }));
  };
};
