/**
 * A seeded, deterministic generator of CRM history: N leads with believable lives, decided by the
 * real deciders (never by making events by hand), on a simulated clock that moves forward through
 * months of activity. The same seed gives the same events, ids included, on any fresh store, by
 * either path: through the command handlers one command at a time, or in bulk (`bulkWriter.ts`).
 */
import { accountStreamId } from '../domain/accounts/events';
import { contactStreamId } from '../domain/contacts/events';
import type { Application } from '../composition/application';
import { handleCommand, type CommandContext } from '../core/commandHandler';
import type { Decider, DomainEvent } from '../core/decider';
import type { GlobalPosition } from '../core/eventStore';
import type { StageAlongside } from '../../projections/runner';
import { deterministicId } from '../core/ids';
import { conversionFollowUps, type ConversionRequest } from '../domain/leads/conversion';
import { convertLead } from '../useCases/convertLead';
import { leadStreamId, type LeadConverted } from '../domain/leads/lead';
import { opportunityStreamId } from '../domain/opportunities/events';
import { Agenda } from './agenda';
import { BulkWriter, convertInBulk } from './bulkWriter';
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
  /**
   * `bulk`: decide in memory and append in big batches (`bulkWriter.ts`); `commands`: one command
   * at a time through the command handlers, as the API runs them. By default `bulk` on an empty
   * store, `commands` otherwise (a run again, or after an interrupted one: the handlers recognise
   * the commands already recorded and complete the rest).
   */
  path?: GenerationPath;
  /** Events per batch on the bulk path. */
  batchEvents?: number;
  /**
   * On the bulk path, stages the read models from the log while it is generated (see
   * stagingThread.ts) instead of rebuilding them after it.
   */
  stageAlongside?: StageAlongside;
  onProgress?(progress: GenerationProgress): void;
  /**
   * Called once every event is stored. On the bulk path the read models do not have them yet: the
   * tables staged alongside are copied in after it (or rebuilt after the load); on the commands
   * path the read models follow the writing. `npm run seed` and the insights bench time the
   * writing and the read models apart with it.
   */
  onWritten?(): void;
}

export type GenerationPath = 'bulk' | 'commands';

export interface GenerationProgress {
  leadsStarted: number;
  leads: number;
  commands: number;
  events: number;
  simulatedTime: Date;
}

export interface GeneratedSummary {
  path: GenerationPath;
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
  const path = options.path ?? ((await app.store.headPosition()) === undefined ? 'bulk' : 'commands');
  const summary: GeneratedSummary = {
    path,
    leads,
    commands: 0,
    events: 0,
    commandsByType: {},
    conversions: { b2b: 0, b2c: 0 },
    firstAt: new Date(start),
    lastAt: new Date(start),
  };
  const executor =
    path === 'bulk' ? new BulkStepExecutor(app, summary, new BulkWriter(app.store, options.batchEvents ?? app.bulkLoad?.batchEvents)) : new HandlerStepExecutor(app, summary);
  await executor.openGroupings(team[0]!, start);
  // Leads arrive in index order; one arriving over a weekend waits for Monday morning, and is
  // never put before one that arrived earlier.
  let lastArrival = start;
  const arrivalOf = (index: number) =>
    (lastArrival = Math.max(lastArrival, officeHours(start + (window * (index + Random.derive(seed, 0, index).next())) / leads)));

  // The background completer would race the inline completion of each conversion and stamp
  // the follow-ups with the wall clock; every conversion here completes inline, so it rests.
  const completer = app.conversionCompleter();
  await completer?.stop();
  // The lead scorer would score a simulated past with today's clock, racing the generator's
  // writes: it rests too, and goes on after the generated history, which it leaves unscored
  // (rescoreOpenLeads scores its open leads).
  const scorer = app.leadScorer();
  await scorer?.stop();
  // On the bulk path the runner rests meanwhile and the read models are rebuilt from the log in
  // bulk, staged on another thread as it is written when `stageAlongside` is given, else after
  // it: faster than following a load event by event (bench/seedBeforeAfter.sh).
  const generate = async () => {
    // Each story with the streams its steps wrote to, so that they can be let go when it ends.
    const agenda = new Agenda<{ story: Story; streams: Set<string>; step: SeedStep }>();
    const schedule = (story: Story, streams = new Set<string>()) => {
      const next = story.next();
      if (next.done) executor.storyEnded(streams);
      else agenda.add(next.value.at, { story, streams, step: next.value });
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
      // The bulk path decides without an await, and awaits only the write of a full batch.
      const running = executor.run(next.item.step, next.item.streams);
      if (running) await running;
      schedule(next.item.story, next.item.streams);
      if (++executed % STEPS_BETWEEN_BREATHS === 0 && path === 'commands') await breathe();
      if (executed % PROGRESS_EVERY === 0) {
        options.onProgress?.({ leadsStarted: started, leads, commands: summary.commands, events: summary.events, simulatedTime: new Date(next.at) });
      }
    }
    await executor.finish();
    options.onWritten?.();
  };
  /** The bulk load with the store tuned for it (SQLite: the log's indexes held in memory), the rebuild after it not. */
  const generateInBulk = async () => {
    const endBulkLoad = app.bulkLoad?.begin();
    try {
      await generate();
    } finally {
      endBulkLoad?.();
    }
  };
  try {
    await (path === 'bulk' ? app.readModels.rebuildAfter(generateInBulk, options.stageAlongside) : generate());
    // Each bulk batch wrote its conversions with their follow-ups at once: none is left to
    // complete (a store that cannot append to many streams atomically is checked as usual).
    if (path === 'bulk' && app.store.appendsToStreamsAtomically) await completer?.skipTo(await app.store.headPosition());
  } finally {
    await completer?.start();
    if (scorer) {
      await scorer.skipTo(await app.store.headPosition());
      await scorer.start();
    }
  }
  return summary;
};

type Story = Generator<SeedStep, void, void>;

const breathe = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Runs generated steps, and keeps the tally; the two paths differ in how a step is written. */
abstract class StepExecutor {
  /** Company index → the account its first conversion opened. */
  private readonly companyAccounts = new Map<number, string>();
  /** Grouping key → the B2C grouping account. */
  private readonly groupings = new Map<string, string>();

  constructor(
    protected readonly app: Application,
    protected readonly summary: GeneratedSummary,
  ) {}

  /** One command on one stream: how many events it wrote (and where, when known already). */
  protected abstract command<State, Command, Event extends DomainEvent>(
    decider: Decider<State, Command, Event>,
    streamId: string,
    command: Command,
    context: CommandContext,
  ): Written | Promise<Written>;

  /** A conversion, its follow-ups included. */
  protected abstract conversion(request: ConversionRequest, context: CommandContext): Converted | Promise<Converted>;

  /** Once every step has run: whatever is still to write is written. */
  async finish(): Promise<void> {}

  /** A story told to its end: nothing more will be written to the streams its steps wrote to. */
  storyEnded(_streams: ReadonlySet<string>): void {}

  /**
   * Undefined when the step is done already (the bulk path decides synchronously). `streams`
   * collects the streams the step writes to (the lead's, the opportunity's, a new contact's).
   */
  run(step: SeedStep, streams: Set<string>): Promise<void> | undefined {
    const commandType = step.target === 'conversion' ? 'ConvertLead' : step.command.type;
    const context: CommandContext = {
      actor: step.actor,
      now: new Date(step.at),
      occurredAt: step.occurredAt === undefined ? undefined : new Date(step.occurredAt),
      commandId: step.commandId,
      commandType,
      correlationId: step.correlationId,
    };
    const refused = (error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      return new Error(`Generated ${commandType} at ${context.now.toISOString()} was refused: ${message}`, { cause: error });
    };
    let written: Written | Promise<Written>;
    try {
      written = this.write(step, context);
    } catch (error) {
      throw refused(error);
    }
    if (!(written instanceof Promise)) {
      this.tally(commandType, step.at, written, streams);
      return undefined;
    }
    return written.then(
      (result) => this.tally(commandType, step.at, result, streams),
      (error: unknown) => {
        throw refused(error);
      },
    );
  }

  /**
   * The B2C grouping accounts, opened once for every seed: their ids and command ids do not
   * depend on the seed, so a later run finds them (the handler recognises its own command).
   */
  async openGroupings(manager: string, start: number): Promise<void> {
    for (const grouping of B2C_GROUPINGS) {
      const accountId = deterministicId('seed-grouping', grouping.key);
      const commandId = deterministicId('seed-grouping', grouping.key, 'open');
      const opened = await this.command(
        this.app.accountDecider,
        accountStreamId(accountId),
        {
          type: 'OpenAccount',
          data: { accountId, kind: 'GROUPING', name: grouping.name, address: { region: grouping.region, country: 'ES' }, ownerId: manager },
        },
        { actor: manager, now: new Date(start - DAY), commandId, commandType: 'OpenAccount', correlationId: commandId },
      );
      // Counted as any command (none on a run again, which recognises them): the summary's
      // events are every event written. The groupings' streams stay known, as accounts do.
      this.tally('OpenAccount', start - DAY, opened, new Set());
      this.groupings.set(grouping.key, accountId);
    }
  }

  private write(step: SeedStep, context: CommandContext): Written | Promise<Written> {
    const { app } = this;
    switch (step.target) {
      case 'lead':
        return this.command(app.leadDecider, leadStreamId(step.command.data.leadId), step.command, context);
      case 'opportunity':
        return this.command(app.opportunityDecider, opportunityStreamId(step.command.data.opportunityId), step.command, context);
      case 'conversion': {
        const planned = step.conversion;
        const { b2b, b2c } = planned;
        const existingAccountId = b2b ? this.companyAccounts.get(b2b.companyIndex) : this.groupings.get(b2c!.groupingKey);
        const account = existingAccountId ? { existingAccountId } : undefined;
        const converting = this.conversion({ ...planned.request, account }, context);
        const done = ({ converted, position }: Converted): Written => {
          if (b2b && !existingAccountId) this.companyAccounts.set(b2b.companyIndex, converted.accountId);
          this.summary.conversions[b2b ? 'b2b' : 'b2c']++;
          const followUps = conversionFollowUps(converted);
          return {
            events: 1 + followUps.reduce((sum, followUp) => sum + followUp.events.length, 0),
            position,
            // Accounts stay known: later conversions attach to them.
            streams: [leadStreamId(converted.leadId), contactStreamId(converted.contactId)],
          };
        };
        return converting instanceof Promise ? converting.then(done) : done(converting);
      }
    }
  }

  protected notePosition(position: GlobalPosition | undefined): void {
    const { summary } = this;
    if (position !== undefined && (summary.lastPosition === undefined || this.app.store.comparePositions(position, summary.lastPosition) > 0)) {
      summary.lastPosition = position;
    }
  }

  private tally(commandType: string, at: number, { events, position, streams: written }: Written, streams: Set<string>) {
    for (const streamId of written ?? []) streams.add(streamId);
    const { summary } = this;
    summary.commands++;
    summary.events += events;
    summary.commandsByType[commandType] = (summary.commandsByType[commandType] ?? 0) + 1;
    if (at > summary.lastAt.getTime()) summary.lastAt = new Date(at);
    this.notePosition(position);
  }
}

interface Converted {
  converted: LeadConverted['data'];
  position?: GlobalPosition;
}

interface Written {
  events: number;
  position?: GlobalPosition;
  streams?: string[];
}

/** Each step through the application's command handlers and conversion use case, as the API runs them. */
class HandlerStepExecutor extends StepExecutor {
  protected async command<State, Command, Event extends DomainEvent>(
    decider: Decider<State, Command, Event>,
    streamId: string,
    command: Command,
    context: CommandContext,
  ): Promise<Written> {
    const result = await handleCommand(this.app.store, decider, streamId, command, context);
    return { events: result.newEvents.length, position: result.position };
  }

  protected conversion(request: ConversionRequest, context: CommandContext): Promise<Converted> {
    return convertLead(this.app, request, context);
  }
}

/** Each step decided in memory, the events written a batch at a time (`bulkWriter.ts`). */
class BulkStepExecutor extends StepExecutor {
  constructor(
    app: Application,
    summary: GeneratedSummary,
    private readonly writer: BulkWriter,
  ) {
    super(app, summary);
  }

  override run(step: SeedStep, streams: Set<string>): Promise<void> | undefined {
    super.run(step, streams);
    return this.writer.batchIsFull ? this.flush() : undefined;
  }

  protected command<State, Command, Event extends DomainEvent>(
    decider: Decider<State, Command, Event>,
    streamId: string,
    command: Command,
    context: CommandContext,
  ): Written {
    return { events: this.writer.decide(decider, streamId, command, context).length, streams: [streamId] };
  }

  /** Its streams' states are let go, so a load of a million events does not hold them all. */
  override storyEnded(streams: ReadonlySet<string>): void {
    this.writer.forget(streams);
  }

  protected conversion(request: ConversionRequest, context: CommandContext): Converted {
    return { converted: convertInBulk(this.writer, this.app, request, context) };
  }

  override async finish(): Promise<void> {
    await this.writer.flush();
    await this.writer.written();
    this.notePosition(this.writer.lastPosition);
  }

  /**
   * Sends the batch (the previous one stored first), then lets the rest of the process have a
   * turn (the projections take a page of what was written, progress is shown): one pause per
   * batch, not per step.
   */
  private async flush(): Promise<void> {
    await this.writer.flush();
    this.notePosition(this.writer.lastPosition);
    await breathe();
  }
}
