/**
 * The pipeline report of now comes from the rollup of open opportunities (`openPipeline`): it
 * must equal the report summed from every open opportunity of the opportunities read model
 * (`pipelineSummary`), for the whole pipeline, each owner and an account, in the reporting
 * currency and another, on a generated history (stage moves, new owners, amounts changed, losses,
 * reopenings and wins), and again after more of them through the commands, as the API makes them.
 * On PostgreSQL: kpisOnPostgres.int.spec.ts.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openApplication, type Application } from '../../src/composition/application';
import { loadConfig } from '../../src/composition/config';
import { handleCommand } from '../../src/core/commandHandler';
import type { OpportunityCommand } from '../../src/domain/opportunities/decide';
import { opportunityStreamId } from '../../src/domain/opportunities/events';
import { generateCrmHistory } from '../../src/seeding/generator';
import { pipelineSummary, type PipelineSummaryFilter } from '../opportunities/opportunitiesQueries';
import { openPipeline } from './kpiQueries';

let dataDir: string;
let app: Application;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'crm-open-pipeline-'));
  app = await openApplication(loadConfig({ CRM_JWT_SECRET: 'open-pipeline-secret-long-enough-for-hs256' }, { dataDir }));
  const history = await generateCrmHistory(app, { leads: 1_500, seed: 23 });
  await app.readModels.waitForPosition(history.lastPosition!, 120_000);
}, 300_000);

afterAll(async () => {
  await app?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Every filter worth asking: none, each owner of an open opportunity, one account, and in another currency. */
const filtersOf = async (): Promise<PipelineSummaryFilter[]> => {
  const owners = await app.readDb.all<{ owner_id: string | null }>(`SELECT DISTINCT owner_id FROM read_opportunities WHERE status = 'OPEN' ORDER BY owner_id`);
  const account = await app.readDb.get<{ account_id: string }>(`SELECT account_id FROM read_opportunities WHERE status = 'OPEN' ORDER BY account_id LIMIT 1`);
  return [
    {},
    { currency: 'USD' },
    ...owners.filter((row) => row.owner_id !== null).map((row) => ({ ownerId: row.owner_id! })),
    { ownerId: 'nobody-at-all' },
    { accountId: account!.account_id },
  ];
};

it('equals the pipeline summed from every open opportunity, for every filter', async () => {
  const filters = await filtersOf();
  expect(filters.length).toBeGreaterThan(5);
  const whole = await openPipeline(app.readDb, app.pipeline);
  // Something to add up: open opportunities at several stages and in several currencies.
  expect(whole.count).toBeGreaterThan(20);
  expect(whole.stages.filter((stage) => stage.count > 0).length).toBeGreaterThan(3);
  const currencies = await app.readDb.all(`SELECT DISTINCT currency FROM read_opportunities WHERE status = 'OPEN' AND currency IS NOT NULL`);
  expect(currencies.length).toBeGreaterThan(1);
  for (const filter of filters) {
    expect(await openPipeline(app.readDb, app.pipeline, filter), JSON.stringify(filter)).toEqual(await pipelineSummary(app.readDb, app.pipeline, filter));
  }
});

it('still equals it after opportunities move, change owner and amount, close and reopen', async () => {
  const open = await app.readDb.all<{ id: string; stage: string; currency: string | null }>(
    `SELECT id, stage, currency FROM read_opportunities WHERE status = 'OPEN' ORDER BY id LIMIT 4`,
  );
  const [moved, handedOver, lostThenReopened, won] = open;
  let commands = 0;
  const command = (opportunityId: string, body: OpportunityCommand) =>
    handleCommand(app.store, app.opportunityDecider, opportunityStreamId(opportunityId), body, {
      actor: 'tester',
      now: new Date(),
      commandId: `open-pipeline-${++commands}`,
      commandType: body.type,
      correlationId: 'open-pipeline',
    });
  await command(moved!.id, { type: 'MoveOpportunityStage', data: { opportunityId: moved!.id, stage: moved!.stage === 'NEGOTIATION' ? 'QUALIFICATION' : 'NEGOTIATION' } });
  await command(handedOver!.id, {
    type: 'UpdateOpportunity',
    data: { opportunityId: handedOver!.id, ownerId: 'newcomer', amount: { amount: '12345.67', currency: handedOver!.currency ?? 'EUR' }, probability: 33 },
  });
  await command(lostThenReopened!.id, { type: 'CloseOpportunity', data: { opportunityId: lostThenReopened!.id, outcome: 'LOST', lossReason: 'PRICE' } });
  await command(lostThenReopened!.id, { type: 'ReopenOpportunity', data: { opportunityId: lostThenReopened!.id, reason: 'came back' } });
  const last = await command(won!.id, { type: 'CloseOpportunity', data: { opportunityId: won!.id, outcome: 'WON' } });
  await app.readModels.waitForPosition(last.position!, 30_000);

  const newcomers = await openPipeline(app.readDb, app.pipeline, { ownerId: 'newcomer' });
  expect(newcomers.count).toBe(1);
  for (const filter of [...(await filtersOf()), { ownerId: 'newcomer' }]) {
    expect(await openPipeline(app.readDb, app.pipeline, filter), JSON.stringify(filter)).toEqual(await pipelineSummary(app.readDb, app.pipeline, filter));
  }
});
