/**
 * A seeded, deterministic generator of CRM history: N leads with believable lives, written
 * through the real command handlers (never by appending events by hand), on a simulated clock
 * that moves forward through months of activity. The same seed gives the same events, ids
 * included, on any fresh store.
 */
import { accountStreamId } from '../domain/accounts/events';
import type { Application } from '../composition/application';
import { handleCommand, type CommandContext, type CommandResult } from '../core/commandHandler';
import type { GlobalPosition } from '../core/eventStore';
import { deterministicId } from '../core/ids';
import { conversionFollowUps } from '../domain/leads/conversion';
import { convertLead } from '../useCases/convertLead';
import { leadStreamId } from '../domain/leads/lead';
import { opportunityStreamId } from '../domain/opportunities/events';
import { Agenda } from './agenda';
import { Random } from './random';
import { B2C_GROUPINGS, DEFAULT_SALES_TEAM, companyAt, type GeneratedCompany } from './data';
import { LeadStory } from './leadStory';
import { officeHours, type SeedStep } from './story';

export interface GenerateOptions {
  leads: number;
  seed: number;
  /** When the first lead may arrive. A fixed date by default: a seed must not depend on today. */
  start?: Date;
  /** Over how many months leads keep arriving (12 by default); their stories run on after. */
  months?: number;
  /** The sales team: owners of leads and opportunities, and the actors of their commands. */
  actors?: string[];
  onProgress?(progress: GenerationProgress): void;
}

export interface GenerationProgress {
  leadsStarted: number;
  leads: number;
  commands: number;
  events: number;
  simulatedTime: Date;
}

export interface GeneratedSummary {
  leads: number;
  commands: number;
  /** Events appended, a conversion's follow-ups on the other streams included. */
  events: number;
  commandsByType: Record<string, number>;
  conversions: { b2b: number; b2c: number };
  /** The simulated period the history covers. */
  firstAt: Date;
  lastAt: Date;
  /** The global position of the last event written, for waiting on the read models. */
  lastPosition?: GlobalPosition;
}

export const DEFAULT_SEED_START = new Date('2025-01-06T08:00:00.000Z');
const DAY = 86_400_000;
/** Lets the projections and the progress output run now and then; a run stays deterministic. */
const STEPS_BETWEEN_BREATHS = 256;
const PROGRESS_EVERY = 1000;

export const generateCrmHistory = async (app: Application, options: GenerateOptions): Promise<GeneratedSummary> => {
  const { leads, seed } = options;
  if (!Number.isInteger(leads) || leads < 0) throw new RangeError('leads must be a whole number, 0 or more');
  if (!Number.isInteger(seed)) throw new RangeError('seed must be a whole number');
  const team = options.actors?.length ? options.actors : DEFAULT_SALES_TEAM;
  const start = (options.start ?? DEFAULT_SEED_START).getTime();
  const window = (options.months ?? 12) * 30 * DAY;
  const companies = new Map<number, GeneratedCompany>();
  const world = {
    seed,
    team,
    stages: app.pipeline.codes(),
    disqualificationReasons: app.catalogs.disqualificationReasons.codes(),
    lossReasons: app.catalogs.lossReasons.codes(),
    companyCount: Math.max(20, Math.round(leads * 0.35)),
    company(index: number) {
      let company = companies.get(index);
      if (!company) companies.set(index, (company = companyAt(index, Random.derive(seed, 2, index))));
      return company;
    },
  };
  const summary: GeneratedSummary = {
    leads,
    commands: 0,
    events: 0,
    commandsByType: {},
    conversions: { b2b: 0, b2c: 0 },
    firstAt: new Date(start),
    lastAt: new Date(start),
  };
  const executor = new StepExecutor(app, summary, await openGroupings(app, team[0]!, start));
  // Leads arrive in index order; one arriving over a weekend waits for Monday morning, and is
  // never put before one that arrived earlier.
  let lastArrival = start;
  const arrivalOf = (index: number) =>
    (lastArrival = Math.max(lastArrival, officeHours(start + (window * (index + Random.derive(seed, 0, index).next())) / leads)));

  // The background completer would race the inline completion of each conversion and stamp
  // the follow-ups with the wall clock; every conversion here completes inline, so it rests.
  const completer = app.conversionCompleter();
  await completer?.stop();
  try {
    const agenda = new Agenda<{ story: Story; step: SeedStep }>();
    const schedule = (story: Story) => {
      const next = story.next();
      if (!next.done) agenda.add(next.value.at, { story, step: next.value });
    };
    let started = 0;
    let nextArrival = leads > 0 ? arrivalOf(0) : 0;
    let executed = 0;
    for (;;) {
      const due = agenda.nextAt();
      if (started < leads && (due === undefined || nextArrival <= due)) {
        schedule(new LeadStory(world, started, nextArrival).tell());
        started++;
        if (started < leads) nextArrival = arrivalOf(started);
        continue;
      }
      const next = agenda.take();
      if (!next) break;
      await executor.run(next.item.step);
      schedule(next.item.story);
      if (++executed % STEPS_BETWEEN_BREATHS === 0) await breathe();
      if (executed % PROGRESS_EVERY === 0) {
        options.onProgress?.({ leadsStarted: started, leads, commands: summary.commands, events: summary.events, simulatedTime: new Date(next.at) });
      }
    }
  } finally {
    await completer?.start();
  }
  return summary;
};

type Story = Generator<SeedStep, void, void>;

const breathe = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Runs generated steps through the real handlers, and keeps the tally. */
class StepExecutor {
  /** Company index → the account its first conversion opened. */
  private readonly companyAccounts = new Map<number, string>();

  constructor(
    private readonly app: Application,
    private readonly summary: GeneratedSummary,
    private readonly groupings: ReadonlyMap<string, string>,
  ) {}

  async run(step: SeedStep): Promise<void> {
    const commandType = step.target === 'conversion' ? 'ConvertLead' : step.command.type;
    const context: CommandContext = {
      actor: step.actor,
      now: new Date(step.at),
      occurredAt: step.occurredAt === undefined ? undefined : new Date(step.occurredAt),
      commandId: step.commandId,
      commandType,
      correlationId: step.correlationId,
    };
    try {
      this.tally(commandType, step.at, await this.dispatch(step, context));
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(`Generated ${commandType} at ${context.now.toISOString()} was refused: ${message}`, { cause: error });
    }
  }

  private async dispatch(step: SeedStep, context: CommandContext): Promise<{ events: number; position?: GlobalPosition }> {
    const { app } = this;
    let result: CommandResult<unknown>;
    switch (step.target) {
      case 'lead':
        result = await handleCommand(app.store, app.leadDecider, leadStreamId(step.command.data.leadId), step.command, context);
        break;
      case 'opportunity': {
        const streamId = opportunityStreamId(step.command.data.opportunityId);
        result = await handleCommand(app.store, app.opportunityDecider, streamId, step.command, context);
        break;
      }
      case 'conversion':
        return this.convert(step.conversion, context);
    }
    return { events: result.newEvents.length, position: result.position };
  }

  private async convert(planned: Extract<SeedStep, { target: 'conversion' }>['conversion'], context: CommandContext) {
    const { b2b, b2c } = planned;
    const existingAccountId = b2b ? this.companyAccounts.get(b2b.companyIndex) : this.groupings.get(b2c!.groupingKey);
    const account = existingAccountId ? { existingAccountId } : undefined;
    const { converted, position } = await convertLead(this.app, { ...planned.request, account }, context);
    if (b2b && !existingAccountId) this.companyAccounts.set(b2b.companyIndex, converted.accountId);
    this.summary.conversions[b2b ? 'b2b' : 'b2c']++;
    const followUps = conversionFollowUps(converted).reduce((sum, followUp) => sum + followUp.events.length, 0);
    return { events: 1 + followUps, position };
  }

  private tally(commandType: string, at: number, { events, position }: { events: number; position?: GlobalPosition }) {
    const { summary } = this;
    summary.commands++;
    summary.events += events;
    summary.commandsByType[commandType] = (summary.commandsByType[commandType] ?? 0) + 1;
    if (at > summary.lastAt.getTime()) summary.lastAt = new Date(at);
    if (position !== undefined && (summary.lastPosition === undefined || this.app.store.comparePositions(position, summary.lastPosition) > 0)) {
      summary.lastPosition = position;
    }
  }
}

/**
 * The B2C grouping accounts, opened once for every seed: their ids and command ids do not
 * depend on the seed, so a later run finds them (the handler recognises its own command).
 */
const openGroupings = async (app: Application, manager: string, start: number): Promise<Map<string, string>> => {
  const ids = new Map<string, string>();
  for (const grouping of B2C_GROUPINGS) {
    const accountId = deterministicId('seed-grouping', grouping.key);
    const commandId = deterministicId('seed-grouping', grouping.key, 'open');
    await handleCommand(
      app.store,
      app.accountDecider,
      accountStreamId(accountId),
      {
        type: 'OpenAccount',
        data: { accountId, kind: 'GROUPING', name: grouping.name, address: { region: grouping.region, country: 'ES' }, ownerId: manager },
      },
      { actor: manager, now: new Date(start - DAY), commandId, commandType: 'OpenAccount', correlationId: commandId },
    );
    ids.set(grouping.key, accountId);
  }
  return ids;
};
