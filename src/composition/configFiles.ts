/**
 * The files a company configures the CRM with (CRM_REASONS_FILE, CRM_PIPELINE_FILE,
 * CRM_SCORING_FILE): read here, at start, and handed to the domain's pure parsers, so the
 * domain never touches the file system.
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_PIPELINE_STAGES, parsePipeline, Pipeline, PipelineConfigError } from '../domain/opportunities/pipeline';
import { parseReasonCatalogs, type ReasonCatalogs } from '../domain/reasons';
import { DEFAULT_SCORING_RULES, parseScoringRules, ScoringRulesError, type ScoringRules } from '../domain/scoring/rules';

/** The parsed JSON of `file`, or an error of the given kind naming the variable and the file. */
const readJson = (variable: string, file: string, toError: (message: string) => Error): unknown => {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw toError(`${variable} ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
};

/** The built-in reason catalogs, or those of the file named by CRM_REASONS_FILE. */
export const loadReasonCatalogs = (file?: string): ReasonCatalogs =>
  parseReasonCatalogs(file ? (JSON.parse(readFileSync(file, 'utf8')) as Parameters<typeof parseReasonCatalogs>[0]) : undefined);

/** The default pipeline, or the one in the file named by CRM_PIPELINE_FILE. */
export const loadPipeline = (file?: string): Pipeline => {
  if (!file) return new Pipeline(DEFAULT_PIPELINE_STAGES);
  const source = `CRM_PIPELINE_FILE ${file}`;
  return parsePipeline(readJson('CRM_PIPELINE_FILE', file, (message) => new PipelineConfigError(message)), source);
};

/** The built-in rules, or those of the JSON file named by CRM_SCORING_FILE. */
export const loadScoringRules = (file?: string): ScoringRules => {
  if (!file) return DEFAULT_SCORING_RULES;
  const parsed = readJson('CRM_SCORING_FILE', file, (message) => new ScoringRulesError(message));
  try {
    return parseScoringRules(parsed);
  } catch (error) {
    throw new ScoringRulesError(`CRM_SCORING_FILE ${file}: ${(error as Error).message}`);
  }
};
