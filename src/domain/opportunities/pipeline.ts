/**
 * The sales pipeline: the stages an open opportunity moves through, each with a default win
 * probability. Companies name their own stages, so the pipeline is configuration, loaded like
 * the reason catalogs.
 */

export interface PipelineStage {
  /** Recorded in events: keep a code once used, even if its label changes. */
  code: string;
  label: string;
  /** Stages are listed and reported in ascending order. */
  order: number;
  /** The default chance of winning at this stage, 0..100. */
  probability: number;
}

export const DEFAULT_PIPELINE_STAGES: readonly PipelineStage[] = [
  { code: 'QUALIFICATION', label: 'Qualification', order: 1, probability: 10 },
  { code: 'VISIT_PENDING', label: 'Visit pending', order: 2, probability: 25 },
  { code: 'PREPARING_QUOTE', label: 'Preparing quote', order: 3, probability: 50 },
  { code: 'DECISION_PENDING', label: 'Decision pending', order: 4, probability: 75 },
  { code: 'NEGOTIATION', label: 'Negotiation', order: 5, probability: 90 },
];

/** The currency pipeline totals are reported in unless a query asks for another. */
export const DEFAULT_REPORTING_CURRENCY = 'EUR';

const STAGE_CODE = /^[A-Z][A-Z0-9_]{0,49}$/;
const CURRENCY = /^[A-Z]{3}$/;

export class PipelineConfigError extends Error {
  override readonly name = 'PipelineConfigError';
}

export class Pipeline {
  readonly stages: readonly PipelineStage[];
  private readonly byCode: ReadonlyMap<string, PipelineStage>;

  constructor(
    stages: readonly PipelineStage[],
    readonly reportingCurrency: string = DEFAULT_REPORTING_CURRENCY,
  ) {
    const problems = stageProblems(stages);
    if (!CURRENCY.test(reportingCurrency)) problems.push('currency must be a three-letter ISO 4217 code such as EUR');
    if (problems.length > 0) throw new PipelineConfigError(`Invalid pipeline: ${problems.join('; ')}`);
    this.stages = [...stages].sort((a, b) => a.order - b.order);
    this.byCode = new Map(this.stages.map((stage) => [stage.code, stage]));
  }

  has(code: string): boolean {
    return this.byCode.has(code);
  }

  stage(code: string): PipelineStage | undefined {
    return this.byCode.get(code);
  }

  /** Where a new opportunity starts unless told otherwise. */
  first(): PipelineStage {
    return this.stages[0]!;
  }

  codes(): string[] {
    return this.stages.map((stage) => stage.code);
  }
}

const stageProblems = (stages: readonly PipelineStage[]): string[] => {
  if (!Array.isArray(stages) || stages.length === 0) return ['stages must be a non-empty list'];
  const problems: string[] = [];
  const seenCodes = new Set<string>();
  const seenOrders = new Set<number>();
  stages.forEach((stage, index) => {
    const at = `stages[${index}]`;
    if (typeof stage?.code !== 'string' || !STAGE_CODE.test(stage.code)) {
      problems.push(`${at}.code must be upper-case letters, digits and _ (e.g. VISIT_PENDING)`);
    } else if (seenCodes.has(stage.code)) {
      problems.push(`${at}.code ${stage.code} appears twice`);
    } else {
      seenCodes.add(stage.code);
    }
    if (typeof stage?.label !== 'string' || stage.label.trim() === '') problems.push(`${at}.label must be a non-empty string`);
    if (!Number.isInteger(stage?.order)) {
      problems.push(`${at}.order must be a whole number`);
    } else if (seenOrders.has(stage.order)) {
      problems.push(`${at}.order ${stage.order} appears twice`);
    } else {
      seenOrders.add(stage.order);
    }
    if (!Number.isInteger(stage?.probability) || stage.probability < 0 || stage.probability > 100) {
      problems.push(`${at}.probability must be a whole number from 0 to 100`);
    }
  });
  return problems;
};

/**
 * The pipeline of a parsed JSON file (`source` names it in errors):
 * `{ "currency": "EUR", "stages": [{ "code", "label", "probability", "order"? }] }`, where a
 * missing `order` is the stage's position in the list. Stage codes already recorded in events
 * stay readable if later removed from the file; they are only refused for new moves.
 */
export const parsePipeline = (parsed: unknown, source: string): Pipeline => {
  const config = (parsed ?? {}) as { currency?: unknown; stages?: unknown };
  if (!Array.isArray(config.stages)) {
    throw new PipelineConfigError(`${source}: expected { "stages": [{ code, label, probability }] }`);
  }
  const stages = config.stages.map((stage: Partial<PipelineStage>, index: number) => ({
    ...stage,
    order: stage?.order ?? index + 1,
  })) as PipelineStage[];
  try {
    return new Pipeline(stages, config.currency === undefined ? undefined : (config.currency as string));
  } catch (error) {
    throw new PipelineConfigError(`${source}: ${(error as Error).message}`);
  }
};
