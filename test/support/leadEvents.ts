/**
 * Test fixtures: lead events appended the way the command handler appends them (one command,
 * full metadata), and a seeded generator of plausible lead histories for replay tests.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ANY, type AppendResult, type EventStore } from '../../src/core/eventStore';
import { deterministicId, newId } from '../../src/core/ids';
import {
  LEAD_SOURCES,
  evolveLead,
  initialLeadState,
  leadStreamId,
  type LeadEvent,
  type LeadState,
} from '../../src/domain/leads/lead';

export interface TimedLeadEvent {
  event: LeadEvent;
  occurredAt: string;
  actor: string;
  id: string;
}

export const appendLeadEvent = (
  store: EventStore,
  event: LeadEvent,
  { occurredAt = new Date().toISOString(), actor = 'user-alice', id = newId() } = {},
): Promise<AppendResult> => {
  const commandId = newId();
  return store.appendToStream(
    leadStreamId(event.data.leadId),
    [
      {
        id,
        type: event.type,
        data: event.data,
        metadata: {
          actor,
          recordedAt: occurredAt,
          occurredAt,
          correlationId: commandId,
          causationId: commandId,
          schemaVersion: 1,
          commandType: event.type,
        },
      },
    ],
    { expectedRevision: ANY },
  );
};

/** Appends in order; resolves with the position of the last one. */
export const appendAll = async (store: EventStore, history: readonly TimedLeadEvent[]): Promise<string> => {
  let position = '';
  for (const { event, ...options } of history) position = (await appendLeadEvent(store, event, options)).position;
  return position;
};

const FIRST_NAMES = ['José', 'Zoë', 'Renée', 'Jürgen', 'Ana', 'Ola', 'Chloé', 'Marc'];
const LAST_NAMES = ['García', 'Müller', 'Ångström', 'Dupont', 'Nováková', 'Smith', "O'Brien"];
const COMPANIES = ['Société Générale', 'Acme', 'Café Crème GmbH', 'Nordlys AS', 'Initech'];
const CAMPAIGNS = ['spring-fair', 'newsletter-42', 'winback'];
const OWNERS = ['user-alice', 'user-bob', 'user-chen'];

/**
 * A deterministic mix of `eventCount` events over at most `leadCount` leads, each history legal
 * for the domain: captures, contacts, detail changes, assignments, (dis)qualifications and
 * recycles, interleaved across leads. Some events share a minute, so capture times tie.
 */
export const generateLeadHistory = ({
  seed,
  leadCount,
  eventCount,
}: {
  seed: number;
  leadCount: number;
  eventCount: number;
}): TimedLeadEvent[] => {
  const random = mulberry32(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const leads = new Map<string, LeadState>();
  const history: TimedLeadEvent[] = [];
  let clock = Date.parse('2024-03-01T08:00:00.000Z');

  while (history.length < eventCount) {
    if (random() > 0.2) clock += 60_000 * (1 + Math.floor(random() * 90));
    const capture = leads.size === 0 || (leads.size < leadCount && random() < 0.3);
    const leadId = capture ? deterministicId('generated-lead', seed, leads.size) : pick([...leads.keys()]);
    const state = leads.get(leadId) ?? initialLeadState();
    const event = nextEvent(leadId, state, pick, random);
    if (event === undefined) continue;
    leads.set(leadId, evolveLead(state, event));
    history.push({
      event,
      occurredAt: new Date(clock).toISOString(),
      actor: pick(OWNERS),
      id: deterministicId('generated-event', seed, history.length),
    });
  }
  return history;
};

const nextEvent = (
  leadId: string,
  state: LeadState,
  pick: <T>(items: readonly T[]) => T,
  random: () => number,
): LeadEvent | undefined => {
  if (state.status === 'NONE') {
    return {
      type: 'LeadCaptured',
      data: {
        leadId,
        source: pick(LEAD_SOURCES),
        campaign: random() < 0.5 ? pick(CAMPAIGNS) : undefined,
        person: { firstName: pick(FIRST_NAMES), lastName: pick(LAST_NAMES), email: `${leadId.slice(0, 8)}@example.com` },
        company: { name: pick(COMPANIES) },
        interest: random() < 0.5 ? { product: 'CRM', estimatedValue: { amount: '1200.00', currency: 'EUR' } } : undefined,
        ownerId: random() < 0.5 ? pick(OWNERS) : undefined,
      },
    };
  }
  const contact = (): LeadEvent => ({
    type: 'LeadContactLogged',
    data: { leadId, channel: 'CALL', outcome: pick(['REACHED', 'NO_ANSWER', 'LEFT_MESSAGE'] as const) },
  });
  const assign = (): LeadEvent => ({
    type: 'LeadAssigned',
    data: { leadId, ownerId: pick(OWNERS), previousOwnerId: state.ownerId },
  });
  const update = (): LeadEvent => ({
    type: 'LeadDetailsUpdated',
    data: { leadId, company: { name: pick(COMPANIES), website: 'https://example.com' } },
  });
  const disqualify = (): LeadEvent => ({
    type: 'LeadDisqualified',
    data: { leadId, reason: pick(['NO_NEED', 'NO_BUDGET', 'BAD_TIMING']), statusBefore: state.status, notes: 'generated' },
  });
  switch (state.status) {
    case 'NEW':
    case 'CONTACTED':
      return pick([
        contact,
        contact,
        assign,
        update,
        disqualify,
        (): LeadEvent => ({
          type: 'LeadQualified',
          data: {
            leadId,
            rank: pick(['MQL', 'SQL'] as const),
            criteria: { need: true, budget: random() < 0.5, authority: true, timing: random() < 0.5 },
            notes: 'generated',
          },
        }),
      ])();
    case 'QUALIFIED':
      return pick([contact, assign, update, disqualify])();
    case 'DISQUALIFIED':
      return pick([
        assign,
        (): LeadEvent => ({
          type: 'LeadRecycled',
          data: { leadId, cycle: state.cycle + 1, source: pick(LEAD_SOURCES), campaign: pick(CAMPAIGNS) },
        }),
      ])();
    default:
      return undefined;
  }
};

/** A small seeded PRNG: the same seed gives the same history on every machine. */
const mulberry32 = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

/** A fresh directory per test; SQLite files need a real file system, not a mock. */
export const temporaryDirectory = () => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-projections-'));
  return {
    path: directory,
    file: (name: string) => path.join(directory, name),
    remove: () => fs.rmSync(directory, { recursive: true, force: true }),
  };
};
