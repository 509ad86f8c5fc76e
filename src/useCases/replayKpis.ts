/**
 * The KPIs from replayed facts, grouped and summed in memory: the other path to the figures
 * the read models serve (projections/kpis/kpiQueries.ts), held to the same definitions.
 */
import type { Pipeline } from '../domain/opportunities/pipeline';
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
import type { OpportunityFact, ReplayedFacts } from './replayFacts';

/** Adds up cells by identity (group and whatever else tells them apart). */
class Cells<Cell> {
  private readonly cells = new Map<string, Cell>();

  add(identity: unknown[], create: () => Cell, update: (cell: Cell) => void): void {
    const id = JSON.stringify(identity);
    let cell = this.cells.get(id);
    if (cell === undefined) {
      cell = create();
      this.cells.set(id, cell);
    }
    update(cell);
  }

  list(): Cell[] {
    return [...this.cells.values()];
  }
}

export const kpisFromFacts = (facts: ReplayedFacts, request: KpiRequest, pipeline: Pipeline): KpiReport => {
  const keyOf = (attribution: KpiAttribution, at: string): KpiGroupKey =>
    groupKeyOf(request.groupBy, attribution, monthOf(at));
  // Cut by LIST, a fact counts once in each list its lead is in now (a copy per list), and once
  // under no list (null) when its lead is in none or it has no lead, as the read models' join does.
  const byList = request.groupBy.includes('LIST');
  if (byList && facts.listsOfLead === undefined) throw new Error('A cut by LIST needs facts replayed with their lists (withLists)');
  const listsOf = (leadId: string | null): ReadonlyArray<string | null> => {
    const lists = leadId === null ? undefined : facts.listsOfLead!.get(leadId);
    return lists === undefined || lists.length === 0 ? [null] : lists;
  };
  const cycles = byList ? facts.cycles.flatMap((cycle) => listsOf(cycle.leadId).map((listId) => ({ ...cycle, listId }))) : facts.cycles;
  const opportunities = byList
    ? facts.opportunities.flatMap((opportunity) => listsOf(opportunity.leadId).map((listId) => ({ ...opportunity, listId })))
    : facts.opportunities;

  const funnel = new Cells<FunnelCell>();
  const disqualifications = new Cells<ReasonCell>();
  for (const cycle of cycles) {
    if (inPeriod(cycle.capturedAt, request)) {
      const key = keyOf(cycle, cycle.capturedAt);
      funnel.add(
        [groupKeyId(key)],
        () => ({ key, captured: 0, contacted: 0, reachedMql: 0, reachedSql: 0, disqualified: 0, converted: 0 }),
        (cell) => {
          cell.captured += 1;
          cell.contacted += cycle.contactedAt === undefined ? 0 : 1;
          cell.reachedMql += cycle.reachedMql ? 1 : 0;
          cell.reachedSql += cycle.reachedSql ? 1 : 0;
          cell.disqualified += cycle.disqualifiedAt === undefined ? 0 : 1;
          cell.converted += cycle.convertedAt === undefined ? 0 : 1;
        },
      );
    }
    if (cycle.disqualifiedAt !== undefined && inPeriod(cycle.disqualifiedAt, request)) {
      const key = keyOf(cycle, cycle.disqualifiedAt);
      const code = cycle.disqualificationReason!;
      disqualifications.add([groupKeyId(key), code], () => ({ key, code, count: 0 }), (cell) => void (cell.count += 1));
    }
  }

  const losses = { byReason: new Cells<AmountCell>(), byCompetitor: new Cells<AmountCell>(), byStage: new Cells<AmountCell>() };
  const outcomes = new Cells<OutcomeCell>();
  const stageTimes = new Cells<StageTimeCell>();
  const pipelines = new Cells<PipelineCell>();
  const addAmount = (cells: Cells<AmountCell>, key: KpiGroupKey, value: string | null, opportunity: OpportunityFact) => {
    const currency = opportunity.amount?.currency ?? null;
    cells.add(
      [groupKeyId(key), value, currency],
      () => ({ key, value, currency, count: 0, units: 0n }),
      (cell) => {
        cell.count += 1;
        cell.units += opportunity.amount ? toUnits(opportunity.amount.amount) : 0n;
      },
    );
  };

  for (const opportunity of opportunities) {
    const { closedAt, status } = opportunity;
    if (closedAt !== undefined && status !== 'OPEN' && inPeriod(closedAt, request)) {
      const key = keyOf(opportunity, closedAt);
      const currency = opportunity.amount?.currency ?? null;
      outcomes.add(
        [groupKeyId(key), status, currency],
        () => ({ key, value: status, currency, count: 0, units: 0n, cycleMs: 0 }),
        (cell) => {
          cell.count += 1;
          cell.units += opportunity.amount ? toUnits(opportunity.amount.amount) : 0n;
          cell.cycleMs += durationMs(opportunity.openedAt, closedAt);
        },
      );
      if (status === 'LOST') {
        addAmount(losses.byReason, key, opportunity.lossReason!, opportunity);
        addAmount(losses.byCompetitor, key, opportunity.competitor ?? null, opportunity);
        addAmount(losses.byStage, key, opportunity.stage, opportunity);
      }
    }
    for (const stay of opportunity.stays) {
      const { leftAt } = stay;
      if (leftAt === undefined || !inPeriod(leftAt, request)) continue;
      const key = keyOf(opportunity, leftAt);
      stageTimes.add(
        [groupKeyId(key), stay.stage],
        () => ({ key, stage: stay.stage, stays: 0, totalMs: 0 }),
        (cell) => {
          cell.stays += 1;
          cell.totalMs += durationMs(stay.enteredAt, leftAt);
        },
      );
    }
    if (status === 'OPEN' && inPeriod(opportunity.openedAt, request)) {
      const key = keyOf(opportunity, opportunity.openedAt);
      const { stage, amount, probability } = opportunity;
      const row = { stage, amount: amount?.amount ?? null, currency: amount?.currency ?? null, probability };
      pipelines.add([groupKeyId(key)], () => ({ key, rows: [] }), (cell) => void cell.rows.push(row));
    }
  }

  return {
    leadFunnel: leadFunnelOf(funnel.list()),
    disqualificationReasons: disqualificationReasonsOf(disqualifications.list()),
    lossReasons: lossReasonsOf(
      { byReason: losses.byReason.list(), byCompetitor: losses.byCompetitor.list(), byStage: losses.byStage.list() },
      request.currency,
    ),
    salesOutcomes: salesOutcomesOf(outcomes.list(), request.currency),
    timeInStage: timeInStageOf(stageTimes.list(), pipeline),
    pipelineValue: pipelineValueOf(pipelines.list(), pipeline, request.currency),
  };
};
