/**
 * The lead scorer against a store and a database of its own: what it scores, that a restart or
 * an error (it starts over from its checkpoint) records nothing twice, and that the data
 * generator can leave a history unscored.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ANY, NO_STREAM, type EventStore, type RecordedEvent } from '../core/eventStore';
import { newId } from '../core/ids';
import { type LeadEvent } from '../domain/leads/lead';
import { parseScoringRules } from '../domain/scoring/rules';
import { createInMemoryEventStore } from '../eventStores/inMemory';
import { openSqliteDatabase, type SqlDatabase } from '../../projections/sqlDatabase';
import { appendLeadEvent } from '../../test/support/leadEvents';
import { LeadScorer } from './leadScorer';
import { rescoreLead } from './rescoreLead';

const rules = parseScoringRules({
  version: 'v1',
  rules: [
    { id: 'referral', points: 20, when: { source: ['REFERRAL'] } },
    { id: 'reached', points: 10, count: { action: 'CONTACT', outcomes: ['REACHED'] } },
  ],
});

const captured = (leadId: string): LeadEvent => ({ type: 'LeadCaptured', data: { leadId, source: 'REFERRAL', person: { lastName: leadId } } });
const reached = (leadId: string): LeadEvent => ({ type: 'LeadContactLogged', data: { leadId, channel: 'CALL', outcome: 'REACHED' } });
const assigned = (leadId: string): LeadEvent => ({ type: 'LeadAssigned', data: { leadId, ownerId: 'bob' } });

describe('the lead scorer', () => {
  let store: EventStore;
  let db: SqlDatabase;
  let scorer: LeadScorer;
  const errors: string[] = [];

  beforeEach(async () => {
    store = createInMemoryEventStore();
    db = openSqliteDatabase(':memory:');
    scorer = new LeadScorer({ store, db, rules, logger: { error: (message: string) => errors.push(message) } });
    errors.length = 0;
  });
  afterEach(async () => {
    await scorer.stop();
    await db.close();
    await store.close();
  });

  const settled = async () => {
    for (;;) {
      const head = await store.headPosition();
      await scorer.whenProcessed(head);
      if ((await store.headPosition()) === head) return;
    }
  };
  const scoresOf = async (): Promise<RecordedEvent[]> => (await store.readAll()).filter((event) => event.type === 'LeadRescored');

  it('scores each scored fact once, from the fact it follows, and nothing for the others', async () => {
    await scorer.start();
    const capture = await appendLeadEvent(store, captured('a'));
    await appendLeadEvent(store, assigned('a'));
    await settled();
    await appendLeadEvent(store, reached('a'));
    await settled();
    const scores = await scoresOf();
    expect(scores.map((event) => [event.streamId, (event.data as { score: number }).score])).toEqual([
      ['leadscore-a', 20],
      ['leadscore-a', 30],
    ]);
    const events = await store.readAll();
    expect(scores[0]!.metadata).toMatchObject({ actor: 'lead-scorer', causationId: events.find((event) => event.position === capture.position)!.id, commandType: 'RescoreLead' });
    // The rules were published before their first score.
    expect(events.findIndex((event) => event.type === 'ScoringRulesPublished')).toBeLessThan(events.indexOf(events.find((event) => event.type === 'LeadRescored')!));
  });

  it('records nothing twice when started again, from its checkpoint or from the start', async () => {
    await scorer.start();
    for (const lead of ['a', 'b', 'c']) {
      await appendLeadEvent(store, captured(lead));
      await appendLeadEvent(store, reached(lead));
    }
    await settled();
    const before = (await store.readAll()).length;
    await scorer.stop();
    await scorer.start();
    await settled();
    await scorer.stop();
    await db.run(`DELETE FROM process_checkpoints WHERE name = 'lead-scorer'`);
    await scorer.start();
    await settled();
    expect((await store.readAll()).length).toBe(before);
    expect(new Set((await scoresOf()).map((event) => event.metadata.causationId)).size).toBe((await scoresOf()).length);
  });

  it('stores its checkpoint once in a busy second, and what it did when stopped; started again, it records nothing twice', async () => {
    const checkpoints: string[] = [];
    const run = db.run.bind(db);
    db.run = (sql, params) => {
      if (sql.includes('INSERT INTO process_checkpoints')) checkpoints.push(String(params?.[1]));
      return run(sql, params);
    };
    await scorer.start();
    const started = performance.now();
    for (let lead = 0; lead < 20; lead++) {
      await appendLeadEvent(store, captured(`l${lead}`));
      await settled();
    }
    // 20 batches that each scored a lead (well within a second here): one checkpoint a second at most.
    expect(checkpoints.length).toBeLessThanOrEqual(1 + Math.floor((performance.now() - started) / 1000));
    expect(checkpoints.length).toBeLessThan(20);
    const before = (await store.readAll()).length;
    await scorer.stop();
    expect(checkpoints.at(-1)).toBe(await store.headPosition());
    await db.run(`UPDATE process_checkpoints SET position = ? WHERE name = 'lead-scorer'`, [checkpoints[0]!]);
    await scorer.start();
    await settled();
    expect((await store.readAll()).length).toBe(before);
    expect((await scoresOf()).map((event) => event.streamId).sort()).toEqual(Array.from({ length: 20 }, (_, lead) => `leadscore-l${lead}`).sort());
  });

  it('after an error, starts over from its checkpoint and scores what it had not', async () => {
    let failures = 1;
    const appendToStream = store.appendToStream.bind(store);
    store.appendToStream = async (streamId, events, options) => {
      if (streamId.startsWith('leadscore-') && failures-- > 0) throw new Error('disk full');
      return appendToStream(streamId, events, options);
    };
    await scorer.start();
    await appendLeadEvent(store, captured('a'));
    await settled();
    expect(errors).toEqual([expect.stringContaining('disk full')]);
    expect(scorer.lastError).toBeInstanceOf(Error);
    expect((await scoresOf()).map((event) => (event.data as { score: number }).score)).toEqual([20]);
  });

  it('skips ahead, while stopped, past a history it must not score', async () => {
    await appendLeadEvent(store, captured('old'));
    await scorer.start();
    await scorer.stop();
    await scorer.skipTo(await store.headPosition());
    await scorer.start();
    await appendLeadEvent(store, captured('new'));
    await settled();
    expect((await scoresOf()).map((event) => event.streamId)).toEqual(['leadscore-new']);
    await expect(scorer.skipTo(await store.headPosition())).rejects.toThrow(/only while stopped/);
  });

  it('scores a lead it saw captured without reading its streams back, until an erasure makes it forget', async () => {
    const reads: string[] = [];
    const readStream = store.readStream.bind(store);
    store.readStream = (streamId, options) => {
      reads.push(streamId);
      return readStream(streamId, options);
    };
    await scorer.start();
    await appendLeadEvent(store, captured('a'));
    await settled();
    await appendLeadEvent(store, reached('a'));
    await settled();
    expect(reads.filter((streamId) => streamId.endsWith('-a'))).toEqual([]);
    expect((await scoresOf()).map((event) => (event.data as { score: number }).score)).toEqual([20, 30]);

    // What it held of everyone's personal data goes with an erasure: it reads the store again.
    await store.appendToStream('personaldata-x', [
      {
        id: newId(),
        type: 'PersonalDataErased',
        data: { subjectId: 'x', leadIds: ['x'], contactIds: [], keyIds: [], reason: 'REQUEST' },
        metadata: { actor: 'dpo', correlationId: newId(), causationId: newId(), commandType: 'ErasePersonalData', schemaVersion: 1, occurredAt: new Date().toISOString(), recordedAt: new Date().toISOString() },
      },
    ], { expectedRevision: ANY });
    await appendLeadEvent(store, reached('a'));
    await settled();
    expect(reads.filter((streamId) => streamId.endsWith('-a'))).toEqual(['leadscore-a', 'lead-a']);
    expect((await scoresOf()).map((event) => (event.data as { score: number }).score)).toEqual([20, 30, 40]);
  });

  it('records nothing twice when the streams it holds lag behind the store', async () => {
    await appendLeadEvent(store, captured('a'));
    const leadEvents = await store.readStream('lead-a');
    const request = { leadId: 'a', reason: 'FACT' as const, rules, causationId: leadEvents[0]!.id, actor: 'lead-scorer', correlationId: newId(), now: new Date() };
    const first = await rescoreLead(store, request);
    expect(first.kind).toBe('rescored');
    // Held from before the score was recorded: the append conflicts, and the store tells it is done.
    const again = await rescoreLead(store, { ...request, known: { leadEvents, scores: [] } });
    expect(again).toEqual(first);
    expect(await scoresOf()).toHaveLength(1);
  });

  const captureTogether = (leadIds: string[]) =>
    store.appendToStreams(
      leadIds.map((leadId) => ({
        streamId: `lead-${leadId}`,
        expectedRevision: NO_STREAM,
        events: [{ id: newId(), type: 'LeadCaptured', data: captured(leadId).data, metadata: metadataOf('CaptureLead') }],
      })),
    );

  it('records the scores of the leads it saw captured together in one append', async () => {
    const batches: string[][] = [];
    const appendToStreams = store.appendToStreams.bind(store);
    store.appendToStreams = (appends) => {
      batches.push(appends.map((append) => append.streamId));
      return appendToStreams(appends);
    };
    await scorer.start();
    await captureTogether(['a', 'b', 'c', 'd']);
    await settled();
    expect(batches.at(-1)).toEqual(['leadscore-a', 'leadscore-b', 'leadscore-c', 'leadscore-d']);
    expect((await scoresOf()).map((event) => (event.data as { score: number }).score)).toEqual([20, 20, 20, 20]);
  });

  it('when a job scored one of them meanwhile, scores the others once each and that one not again', async () => {
    const appendToStreams = store.appendToStreams.bind(store);
    let jobRan = false;
    store.appendToStreams = async (appends) => {
      if (!jobRan && appends[0]!.streamId.startsWith('leadscore-')) {
        jobRan = true;
        await rescoreLead(store, { leadId: 'b', reason: 'ALL_OPEN_LEADS', rules, causationId: 'job-1', actor: 'admin', correlationId: newId(), now: new Date() });
      }
      return appendToStreams(appends);
    };
    await scorer.start();
    await captureTogether(['a', 'b', 'c']);
    await settled();
    expect(jobRan).toBe(true);
    expect(errors).toEqual([]);
    const scores = await scoresOf();
    expect(scores.map((event) => [event.streamId, event.metadata.actor])).toEqual([
      ['leadscore-b', 'admin'],
      ['leadscore-a', 'lead-scorer'],
      ['leadscore-c', 'lead-scorer'],
    ]);
  });
});

const metadataOf = (commandType: string) => {
  const now = new Date().toISOString();
  return { actor: 'user-alice', recordedAt: now, occurredAt: now, correlationId: newId(), causationId: newId(), schemaVersion: 1, commandType };
};
