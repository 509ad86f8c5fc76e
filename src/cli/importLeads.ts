/**
 * `npm run import -- leads.csv [options]`: captures the leads of a CSV file, each row exactly as
 * the `importLeads` mutation (and so `captureLead`) would, 500 rows per batch, with a progress
 * line, a summary, and a file of the rejected rows (row number, field, reason, and the row as it
 * was). Running the same file twice creates nothing the second time.
 */
import 'reflect-metadata';
import { createReadStream, existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { parse } from 'csv-parse';
import { graphql, type GraphQLSchema } from 'graphql';
import type { Application } from '../composition/application';
import { openApplication } from '../composition/application';
import { newId } from '../core/ids';
import { buildCrmSchema } from '../graphql/schema';
import type { GraphQLContext } from '../graphql/shared/context';
import { checkedMapping, defaultMapping, MappingError, toImportRow, type Mapping, type RowDefaults } from './leadImportCsv';
import { ProgressLine, UsageError, configFor, formatCount, parseOptionsWithSubject, perSecond, runCli } from './common';

const USAGE = `usage: npm run import -- FILE.csv [--mapping mapping.json] [--source SOURCE] [--campaign NAME]
                      [--list NAME_OR_ID] [--skip-duplicates] [--dry-run] [--rejected FILE] [--actor NAME]
                      [--data-dir ./data]

  FILE.csv    comma- or semicolon-separated, with a header row; UTF-8 (a BOM is fine)
  --mapping   a JSON object { "CSV header": "field" } (fields: source, campaign, occurredAt, ownerId,
              person.firstName|lastName|email|phone|jobTitle, company.name|website|phone|size,
              person.address.* and company.address.* (street, city, postalCode, region, country),
              interest.product|notes). Default: the obvious headers (Email, Last name, Company,
              Apellidos, Empresa, Fecha...)
  --source    the source of rows that name none (WEB_FORM, TRADE_FAIR, ...)
  --campaign  the campaign of rows that name none
  --list      put the imported leads into this static list (its id, or its name: made if missing)
  --skip-duplicates  leave out rows that may be a person already known (an open lead or a contact
              with the same e-mail, or the same name at the same company, or an earlier row);
              they go to the rejected-rows file. Without it they are imported and carry
              possibleDuplicates
  --dry-run   check every row as the import would, and write nothing
  --rejected  where to write the rejected rows (default: FILE.rejected.csv)
  --actor     who the events name as having imported (default: import:<your user name>)

A capture date column (occurredAt) is the lead's business time, however long ago; the time the
import recorded it stays now. Rows are idempotent: the same row imported again is skipped.
The import does not score the leads: the server's lead scorer does, from where it left off.`;

const BATCH = 500;

const IMPORT = `mutation Import($input: ImportLeadsInput!) { importLeads(input: $input) {
  created alreadyImported valid duplicatesSkipped rejected
  results { index outcome leadId code message errors { field message } duplicates { kind id matchedOn } } } }`;
const FIND_LIST = `query List($id: ID!) { leadList(id: $id) { id kind archived } }`;
const LISTS = `query Lists($after: String) { leadLists(first: 200, after: $after) {
  pageInfo { hasNextPage endCursor } edges { node { id name kind } } } }`;
const CREATE_LIST = `mutation CreateList($input: CreateLeadListInput!) { createLeadList(input: $input) { list { id } } }`;

export interface ImportOptions {
  file: string;
  mapping?: Mapping;
  defaults: RowDefaults;
  list?: string;
  dryRun: boolean;
  skipDuplicates?: boolean;
  actor: string;
  rejectedFile: string;
  onProgress?(progress: { rows: number; created: number; alreadyImported: number; duplicatesSkipped: number; rejected: number; elapsedMs: number }): void;
}

export interface ImportSummary {
  rows: number;
  created: number;
  alreadyImported: number;
  valid: number;
  duplicatesSkipped: number;
  rejected: number;
  listId?: string;
  elapsedMs: number;
  /** Whether the rejected-rows file was written (only when a row was rejected). */
  rejectedFile?: string;
}

interface RowResult {
  index: number;
  outcome: 'CREATED' | 'ALREADY_IMPORTED' | 'VALID' | 'DUPLICATE_SKIPPED' | 'REJECTED';
  leadId?: string;
  code?: string;
  message?: string;
  errors: { field: string; message: string }[];
  duplicates: { kind: string; id: string; matchedOn: string }[];
}

export class ImportFailedError extends Error {
  override readonly name = 'ImportFailedError';
}

/** Runs the API's own operations in this process, as `actor` with the admin role (an operator's tool). */
const operations = (app: Application, schema: GraphQLSchema, actor: string) => {
  const context = (): GraphQLContext => ({ app, identity: { actor, roles: ['admin'] }, correlationId: newId(), requestTime: new Date() });
  return async <T>(source: string, variableValues: Record<string, unknown>): Promise<T> => {
    const result = await graphql({ schema, source, variableValues, contextValue: context() });
    if (result.errors?.length) throw new ImportFailedError(result.errors.map((error) => error.message).join('; '));
    return result.data as T;
  };
};

const resolveList = async (run: ReturnType<typeof operations>, wanted: string, dryRun: boolean): Promise<string | undefined> => {
  const byId = (await run<{ leadList: { id: string; kind: string; archived: boolean } | null }>(FIND_LIST, { id: wanted })).leadList;
  if (byId) {
    if (byId.kind !== 'STATIC' || byId.archived) {
      throw new ImportFailedError(`list ${wanted} is ${byId.archived ? 'archived' : 'dynamic'}: leads cannot be put into it`);
    }
    return byId.id;
  }
  type ListPage = { leadLists: { pageInfo: { hasNextPage: boolean; endCursor?: string }; edges: { node: { id: string; name: string; kind: string } }[] } };
  for (let after: string | undefined; ; ) {
    const page = (await run<ListPage>(LISTS, { after })).leadLists;
    const found = page.edges.find((edge) => edge.node.name === wanted && edge.node.kind === 'STATIC');
    if (found) return found.node.id;
    if (!page.pageInfo.hasNextPage) break;
    after = page.pageInfo.endCursor;
  }
  if (dryRun) return undefined;
  const created = await run<{ createLeadList: { list: { id: string } } }>(CREATE_LIST, { input: { name: wanted, kind: 'STATIC' } });
  return created.createLeadList.list.id;
};

const csvCell = (value: string): string => (/[",\n\r;]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value);

export const importLeadsFromCsv = async (app: Application, options: ImportOptions): Promise<ImportSummary> => {
  const began = Date.now();
  const run = operations(app, await buildCrmSchema(), options.actor);
  const listId = options.list === undefined ? undefined : await resolveList(run, options.list, options.dryRun);

  const parser = createReadStream(options.file).pipe(
    parse({ columns: true, bom: true, delimiter: [',', ';'], skip_empty_lines: true, trim: true, info: true, relax_column_count: true }),
  );
  const summary: ImportSummary = { rows: 0, created: 0, alreadyImported: 0, valid: 0, duplicatesSkipped: 0, rejected: 0, listId, elapsedMs: 0 };
  let headers: string[] | undefined;
  let mapping: Mapping | undefined;
  const rejectedLines: string[] = [];
  let batch: { line: number; record: Record<string, string>; row: Record<string, unknown> }[] = [];

  const flush = async () => {
    if (batch.length === 0) return;
    type Answer = { importLeads: Omit<ImportSummary, 'rows' | 'listId' | 'elapsedMs' | 'rejectedFile'> & { results: RowResult[] } };
    const answer = await run<Answer>(IMPORT, {
      input: { rows: batch.map((entry) => entry.row), listId, dryRun: options.dryRun, skipDuplicates: options.skipDuplicates ?? false },
    });
    const { results, ...counts } = answer.importLeads;
    summary.rows += batch.length;
    for (const key of ['created', 'alreadyImported', 'valid', 'duplicatesSkipped', 'rejected'] as const) summary[key] += counts[key];
    for (const result of results.filter((r) => r.outcome === 'REJECTED' || r.outcome === 'DUPLICATE_SKIPPED')) {
      const { line, record } = batch[result.index]!;
      const problems =
        result.outcome === 'DUPLICATE_SKIPPED'
          ? result.duplicates.map((d) => ({ field: '', message: `possible duplicate of ${d.kind.toLowerCase()} ${d.id} (${d.matchedOn === 'EMAIL' ? 'same e-mail' : 'same name and company'})` }))
          : result.errors.length > 0
            ? result.errors
            : [{ field: '', message: result.message ?? result.code ?? 'rejected' }];
      for (const problem of problems) {
        rejectedLines.push([String(line), problem.field, problem.message, ...headers!.map((header) => record[header] ?? '')].map(csvCell).join(','));
      }
    }
    batch = [];
    options.onProgress?.({ ...summary, elapsedMs: Date.now() - began });
  };

  for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
    if (!headers) {
      headers = Object.keys(record);
      mapping = options.mapping ? checkedMapping(options.mapping, headers) : defaultMapping(headers);
      if (Object.keys(mapping).length === 0) {
        throw new MappingError(`no column of ${headers.join(', ')} is one the import knows: give a --mapping file`);
      }
    }
    batch.push({ line: info.lines, record, row: toImportRow(record, mapping!, options.defaults) });
    if (batch.length === BATCH) await flush();
  }
  await flush();

  // Rows rejected, and rows skipped as duplicates: what the operator has to look at.
  if (rejectedLines.length > 0) {
    writeFileSync(options.rejectedFile, [['row', 'field', 'reason', ...(headers ?? [])].map(csvCell).join(','), ...rejectedLines, ''].join('\n'));
    summary.rejectedFile = options.rejectedFile;
  }
  return { ...summary, elapsedMs: Date.now() - began };
};

if (require.main === module) {
  runCli(USAGE, async () => {
    const { values: args, subject: file } = parseOptionsWithSubject(process.argv.slice(2), {
      mapping: { type: 'string' },
      source: { type: 'string' },
      campaign: { type: 'string' },
      list: { type: 'string' },
      'dry-run': { type: 'boolean' },
      'skip-duplicates': { type: 'boolean' },
      rejected: { type: 'string' },
      actor: { type: 'string' },
    });
    if (args.help) {
      process.stdout.write(`${USAGE}\n`);
      return;
    }
    if (!file) throw new UsageError('name the CSV file to import');
    if (!existsSync(file)) throw new UsageError(`no such file: ${file}`);
    let mapping: Mapping | undefined;
    if (args.mapping) {
      try {
        mapping = JSON.parse(readFileSync(args.mapping, 'utf8')) as Mapping;
      } catch (error) {
        throw new UsageError(`--mapping ${args.mapping}: ${(error as Error).message}`);
      }
    }
    // Scoring the imported leads is the server's lead scorer's (from its checkpoint, when it runs).
    const app = await openApplication({ ...configFor(args['data-dir']), leadScoring: false });
    try {
      const progress = new ProgressLine();
      const summary = await importLeadsFromCsv(app, {
        file,
        mapping,
        defaults: { source: args.source, campaign: args.campaign },
        list: args.list,
        dryRun: args['dry-run'] ?? false,
        skipDuplicates: args['skip-duplicates'] ?? false,
        actor: args.actor ?? `import:${os.userInfo().username}`,
        rejectedFile: args.rejected ?? file.replace(/(\.csv)?$/i, '.rejected.csv'),
        onProgress: (p) =>
          progress.update(
            `import: ${formatCount(p.rows)} rows, ${formatCount(p.created)} created, ${formatCount(p.alreadyImported)} already imported, ` +
              `${formatCount(p.rejected)} rejected (${perSecond(p.rows, p.elapsedMs)} rows/s)`,
          ),
      }).catch((error: unknown) => {
        throw error instanceof MappingError ? new UsageError(error.message) : error;
      });
      progress.done(
        `import${args['dry-run'] ? ' (dry run, nothing written)' : ''}: ${formatCount(summary.rows)} rows in ${(summary.elapsedMs / 1000).toFixed(1)} s ` +
          `(${perSecond(summary.rows, summary.elapsedMs)} rows/s): ` +
          (args['dry-run'] ? `${formatCount(summary.valid)} valid` : `${formatCount(summary.created)} created, ${formatCount(summary.alreadyImported)} already imported`) +
          (args['skip-duplicates'] ? `, ${formatCount(summary.duplicatesSkipped)} duplicates skipped` : '') +
          `, ${formatCount(summary.rejected)} rejected` +
          (summary.listId ? `; in list ${summary.listId}` : '') +
          (summary.created > 0 ? `\nscores: the server's lead scorer scores the new leads when it runs` : '') +
          (summary.rejectedFile ? `\nrejected rows (row, field, reason): ${summary.rejectedFile}` : ''),
      );
      // Skipped duplicates were asked for; rejected rows are a problem to look at.
      return summary.rejected > 0 ? 1 : 0;
    } finally {
      await app.close();
    }
  });
}
