/**
 * `importLeads`: up to 500 leads in one request, each row captured exactly as `captureLead`
 * would capture it (the same validation, the same command), with a result per row. Rows may be
 * back-dated beyond the back-dating window (a trade fair's or an old CRM's leads keep the date they
 * came in; the recorded time stays now, so `knownAt` stays honest). `npm run import` sends a CSV
 * file through it.
 */
import { validate } from 'class-validator';
import { Arg, Authorized, Ctx, Mutation, Resolver } from 'type-graphql';
import { handleCommandsTogether } from '../../core/commandBatch';
import { handleCommand, type CommandContext } from '../../core/commandHandler';
import { ValidationError, type FieldProblem } from '../../core/errors';
import { findPossibleDuplicatesOfMany } from '../../../projections/leads/duplicateQueries';
import { duplicateKeysOf } from '../../../projections/leads/leadView';
import type { CaptureLead } from '../../domain/leads/decide';
import { DuplicateCandidate } from '../types/duplicates';
import type { GlobalPosition } from '../../core/eventStore';
import { plainInput } from '../../core/json';
import { MAX_LEADS_PER_LIST_COMMAND } from '../../domain/leadLists/decide';
import { leadListStreamId } from '../../domain/leadLists/events';
import { leadStreamId, type LeadSource } from '../../domain/leads/lead';
import { leadListDecider } from '../../useCases/assignLeadList';
import { extensionsOf, flattenValidationErrors } from '../shared/errors';
import type { GraphQLContext } from '../shared/context';
import { requireOwnOwnerId } from '../shared/ownership';
import { commandContextFor, newEntityIds } from '../shared/runCommand';
import { ImportLeadRowInput, ImportLeadsInput, ImportLeadsPayload, MAX_IMPORT_ROWS, type ImportLeadRowResult } from '../types/leadImport';

/** Business time an import may carry: any past date (a century back covers any CRM's history). */
const IMPORT_BACKDATE_LIMIT_DAYS = 36_500;
/**
 * How long a request waits for the read models to include its rows. Stored together, 500 rows
 * reach the projections at once, a thousand events (with their keys' first uses), which
 * PostgreSQL read models on a busy machine took more than the 5 s a single mutation waits for;
 * rescoreOpenLeads gives its batches of 500 as long.
 */
const IMPORT_READ_MODEL_TIMEOUT_MS = 60_000;

@Authorized()
@Resolver()
export class LeadImportResolver {
  @Mutation(() => ImportLeadsPayload, {
    description:
      'Captures up to 500 leads, each row as captureLead would (the same checks), answering a result per row; ' +
      'rows may be back-dated beyond the window. With listId, the imported leads are put into that static list',
  })
  async importLeads(
    @Arg('input', () => ImportLeadsInput, { validate: false }) input: ImportLeadsInput,
    @Ctx() context: GraphQLContext,
  ): Promise<ImportLeadsPayload> {
    // Rows are checked one by one below; the request as a whole only by its size.
    if (input.rows.length > MAX_IMPORT_ROWS) {
      throw new ValidationError([{ field: 'rows', message: `at most ${MAX_IMPORT_ROWS} rows per request` }]);
    }
    const dryRun = input.dryRun ?? false;
    const results: ImportLeadRowResult[] = new Array(input.rows.length);
    // Checked first, in row order, so that "an earlier row of this request" means the same on every run.
    const prepared = await Promise.all(input.rows.map((row, index) => prepareRow(context, row, index)));
    const valid: PreparedRow[] = [];
    for (const entry of prepared) {
      if ('rejected' in entry) results[entry.rejected.index] = entry.rejected;
      else valid.push(entry);
    }
    // Who each row may be among known people, asked for all rows at once.
    const known = await findPossibleDuplicatesOfMany(
      context.app.readDb,
      valid.map(({ leadId, command }) => ({ person: command.data.person, company: command.data.company, exceptLeadId: leadId })),
    );
    const seen = new Map<string, string>();
    const toCapture: PreparedRow[] = [];
    for (const [at, entry] of valid.entries()) {
      const duplicates = withEarlierRows(entry, known[at]!, seen);
      if (duplicates.length > 0 && input.skipDuplicates) {
        results[entry.index] = { index: entry.index, outcome: 'DUPLICATE_SKIPPED', errors: [], duplicates };
        continue;
      }
      entry.duplicates = duplicates;
      toCapture.push(entry);
    }

    let last: GlobalPosition | undefined;
    for (const { result, position } of await captureRows(context, toCapture, dryRun)) {
      results[result.index] = result;
      if (position !== undefined && (last === undefined || context.app.store.comparePositions(position, last) > 0)) last = position;
    }

    if (input.listId && !dryRun) {
      const leadIds = results.flatMap((result) => (result.leadId ? [result.leadId] : []));
      const position = await addToList(context, input.listId, leadIds);
      if (position !== undefined) last = position;
    }
    if (last !== undefined) await context.app.readModels.waitForPosition(last, IMPORT_READ_MODEL_TIMEOUT_MS);
    const count = (outcome: ImportLeadRowResult['outcome']) => results.filter((result) => result.outcome === outcome).length;
    return {
      created: count('CREATED'),
      alreadyImported: count('ALREADY_IMPORTED'),
      valid: count('VALID'),
      duplicatesSkipped: count('DUPLICATE_SKIPPED'),
      rejected: count('REJECTED'),
      results,
    };
  }
}

interface PreparedRow {
  index: number;
  leadId: string;
  command: { type: 'CaptureLead'; data: CaptureLead['data'] };
  commandContext: CommandContext;
  duplicates?: DuplicateCandidate[];
}

const rejectedRow = (index: number, code: string, message: string, errors: FieldProblem[]): ImportLeadRowResult => ({
  index,
  outcome: 'REJECTED',
  code,
  message,
  errors,
  duplicates: [],
});

/** The row checked as captureLead checks its input, and turned into its command; or why not. */
const prepareRow = async (context: GraphQLContext, row: ImportLeadRowInput, index: number): Promise<PreparedRow | { rejected: ImportLeadRowResult }> => {
  const problems = flattenValidationErrors(await validate(row, { forbidUnknownValues: false }), '');
  if (problems.length > 0) {
    return { rejected: rejectedRow(index, 'BAD_USER_INPUT', problems.map((p) => `${p.field} ${p.message}`).join('; '), problems) };
  }
  try {
    const plain = plainInput({ ...row });
    const { idempotencyKey, occurredAt: _occurredAt, ...fields } = plain;
    requireOwnOwnerId(context, fields.ownerId, 'lead');
    const { commandId, id: leadId } = newEntityIds(context, 'CaptureLead', idempotencyKey, 'lead');
    const commandContext = commandContextFor(context, 'CaptureLead', plain, commandId, IMPORT_BACKDATE_LIMIT_DAYS);
    const command = { type: 'CaptureLead', data: { ...fields, source: fields.source as LeadSource, leadId } } as const;
    return { index, leadId, command, commandContext };
  } catch (error) {
    return { rejected: rejectedFor(index, error) };
  }
};

/**
 * Who the row may be: known people (not the row's own lead from an earlier run of the same
 * import), and earlier rows of this request.
 */
const withEarlierRows = (entry: PreparedRow, known: DuplicateCandidate[], seen: Map<string, string>): DuplicateCandidate[] => {
  const { person, company } = entry.command.data;
  const keys = duplicateKeysOf({ person: person ?? null, company: company ?? null });
  const inRequest: DuplicateCandidate[] = [];
  for (const [key, matchedOn] of [[keys.emailKey, 'EMAIL'], [keys.identityKey, 'NAME_AND_COMPANY']] as const) {
    if (key === undefined) continue;
    const earlier = seen.get(`${matchedOn}:${key}`);
    if (earlier !== undefined && earlier !== entry.leadId && !inRequest.some((c) => c.id === earlier)) inRequest.push({ kind: 'LEAD', id: earlier, matchedOn });
    if (earlier === undefined) seen.set(`${matchedOn}:${key}`, entry.leadId);
  }
  return [...known, ...inRequest.filter((candidate) => !known.some((k) => k.id === candidate.id))];
};

/**
 * The rows' leads captured, each row's command checked as captureLead's is, and stored together
 * (`handleCommandsTogether`: one durable transaction for the whole request instead of two per
 * row); or, in a dry run, only decided.
 */
const captureRows = async (
  context: GraphQLContext,
  entries: readonly PreparedRow[],
  dryRun: boolean,
): Promise<{ result: ImportLeadRowResult; position?: GlobalPosition }[]> => {
  if (dryRun) {
    return entries.map(({ index, command, duplicates = [] }) => {
      try {
        context.app.leadDecider.decide(command, context.app.leadDecider.initialState());
        return { result: { index, outcome: 'VALID', errors: [], duplicates } };
      } catch (error) {
        return { result: rejectedFor(index, error) };
      }
    });
  }
  const outcomes = await handleCommandsTogether(
    context.app.store,
    context.app.leadDecider,
    entries.map(({ leadId, command, commandContext }) => ({
      streamId: leadStreamId(leadId),
      command,
      context: commandContext,
      // Without a key the lead's id was drawn at random for this row (`newEntityIds`): nothing to
      // read. With one, it derives from the key, and the lead's first event records the key's use.
      freshStream: commandContext.idempotencyKey === undefined,
      keyNamesStream: true,
    })),
  );
  return outcomes.map((outcome, at) => {
    const { index, leadId, duplicates = [] } = entries[at]!;
    if ('error' in outcome) return { result: rejectedFor(index, outcome.error) };
    return {
      result: { index, outcome: outcome.result.replayed ? 'ALREADY_IMPORTED' : 'CREATED', leadId, errors: [], duplicates },
      position: outcome.result.position,
    };
  });
};

/** The error a captureLead of the row would have answered, as the row's result. */
const rejectedFor = (index: number, error: unknown): ImportLeadRowResult => {
  const { code, message, fields } = extensionsOf(error);
  if (code === 'INTERNAL_SERVER_ERROR') throw error;
  return rejectedRow(index, code, message, fields);
};

/** Puts the leads into the list, a batch per command; the list's own rules apply (static, active). */
const addToList = async (context: GraphQLContext, listId: string, leadIds: string[]): Promise<GlobalPosition | undefined> => {
  let position: GlobalPosition | undefined;
  for (let start = 0; start < leadIds.length; start += MAX_LEADS_PER_LIST_COMMAND) {
    const batch = leadIds.slice(start, start + MAX_LEADS_PER_LIST_COMMAND);
    const result = await handleCommand(
      context.app.store,
      leadListDecider,
      leadListStreamId(listId),
      { type: 'AddLeadsToList', data: { listId, leadIds: batch } },
      commandContextFor(context, 'AddLeadsToList', {}),
      { existingEntity: { type: 'LeadList', id: listId } },
    );
    if (result.position !== undefined) position = result.position;
  }
  return position;
};
