/**
 * Lead lists and re-engaged contacts added to a generated history, so that the KPI equality
 * tests have something to cut by LIST and ORIGIN: the seeded generator (src/seeding) makes
 * neither. Deterministic for a seed, and decided by the real deciders and the engagement and
 * conversion use cases.
 */
import type { Application } from '../../src/composition/application';
import { handleCommand, type CommandContext } from '../../src/core/commandHandler';
import type { Decider, DomainEvent } from '../../src/core/decider';
import type { GlobalPosition } from '../../src/core/eventStore';
import { deterministicId } from '../../src/core/ids';
import { leadListStreamId, type SavedLeadFilter } from '../../src/domain/leadLists/events';
import { leadStreamId, type LeadPerson, type LeadSource } from '../../src/domain/leads/lead';
import { opportunityStreamId } from '../../src/domain/opportunities/events';
import { Random } from '../../src/seeding/random';
import { leadListDecider } from '../../src/useCases/assignLeadList';
import { convertLead } from '../../src/useCases/convertLead';
import { engageContact } from '../../src/useCases/engageContact';

const DAY = 86_400_000;
const ENGAGED_SOURCES: LeadSource[] = ['EMAIL_CAMPAIGN', 'SOCIAL_MEDIA', 'INBOUND_CALL', 'REFERRAL'];

export interface ListsAndEngagements {
  engaged: number;
  lists: { static: number; dynamic: number };
  /** The last event written, to wait for the read models. */
  lastPosition?: GlobalPosition;
}

interface KnownLead {
  id: string;
  source: string;
  owner_id: string | null;
  person: string | null;
  conversion: string | null;
}

/**
 * Re-engages about one converted contact in 8 (the contact's lead cycle after its conversion:
 * contacted, disqualified and perhaps recycled, or converted onto the same contact and account and
 * then won or lost), then makes lists over every lead: static ones (one overlapping another, one
 * with leads taken out, one archived) and dynamic ones on each kind of criterion. The read models
 * must have taken in the history: the leads are read from them.
 */
export const addListsAndEngagements = async (
  app: Application,
  options: { seed: number; /** After the last fact of the history: when the lists are made. */ listsAt: Date },
): Promise<ListsAndEngagements> => {
  const random = Random.derive(options.seed, 77);
  const leads = await app.readDb.all<KnownLead>('SELECT id, source, owner_id, person, conversion FROM read_leads ORDER BY id');
  const summary: ListsAndEngagements = { engaged: 0, lists: { static: 0, dynamic: 0 } };
  const note = (position: GlobalPosition | undefined) => {
    if (position !== undefined && (summary.lastPosition === undefined || app.store.comparePositions(position, summary.lastPosition) > 0)) {
      summary.lastPosition = position;
    }
  };
  const contextAt = (at: number, actor: string, ...idParts: (string | number)[]): CommandContext => {
    const commandId = deterministicId('kpi-test', options.seed, ...idParts);
    return { actor, now: new Date(at), commandId, commandType: String(idParts[0]), correlationId: commandId };
  };
  const run = async <S, C, E extends DomainEvent>(decider: Decider<S, C, E>, streamId: string, command: C, context: CommandContext) =>
    note((await handleCommand(app.store, decider, streamId, command, context)).position);

  // The conversion completer would race the inline completion of each conversion, as in the generator.
  const completer = app.conversionCompleter();
  await completer?.stop();
  const engagedIds: string[] = [];
  try {
    for (const lead of leads) {
      if (lead.conversion === null || !random.chance(0.12)) continue;
      const { contactId, convertedAt } = JSON.parse(lead.conversion) as { contactId: string; convertedAt: string };
      const leadId = deterministicId('kpi-test', options.seed, 'engaged', lead.id);
      const owner = lead.owner_id ?? 'marketing.ops';
      let at = Date.parse(convertedAt) + random.int(20, 120) * DAY;
      const engaged = await engageContact(
        app,
        { leadId, contactId, source: random.pick(ENGAGED_SOURCES), campaign: 'we-miss-you', ownerId: owner },
        contextAt(at, 'marketing.ops', 'EngageContact', lead.id),
      );
      note(engaged.position);
      engagedIds.push(leadId);
      summary.engaged++;
      const stream = leadStreamId(leadId);
      const step = (days: number, name: string) => contextAt((at += days * DAY), owner, name, leadId);
      if (random.chance(0.6)) {
        await run(app.leadDecider, stream, { type: 'LogLeadContact', data: { leadId, channel: 'CALL', outcome: 'REACHED' } }, step(1, 'LogLeadContact'));
      }
      if (random.chance(0.4)) {
        await run(app.leadDecider, stream, { type: 'DisqualifyLead', data: { leadId, reason: 'BAD_TIMING' } }, step(3, 'DisqualifyLead'));
        if (!random.chance(0.5)) continue;
        // A recycled cycle: a second cycle of the same re-engaged lead.
        await run(app.leadDecider, stream, { type: 'RecycleLead', data: { leadId, source: 'EMAIL_CAMPAIGN' } }, step(30, 'RecycleLead'));
      }
      if (random.chance(0.3)) continue;
      const criteria = { need: true, budget: true, authority: true, timing: true };
      await run(app.leadDecider, stream, { type: 'QualifyLead', data: { leadId, rank: 'SQL', criteria } }, step(2, 'QualifyLead'));
      if (random.chance(0.2)) continue;
      const converted = await convertLead(
        app,
        // Onto the contact it re-engaged, and its account: what converting an engaged lead does.
        { leadId, opportunity: { amount: { amount: `${random.int(5, 400) * 100}.50`, currency: 'EUR' } } },
        step(3, 'ConvertLead'),
      );
      note(converted.position);
      const opportunityId = converted.converted.opportunityId!;
      const outcome = random.pick(['WON', 'LOST', 'OPEN'] as const);
      if (outcome === 'OPEN') continue;
      await run(
        app.opportunityDecider,
        opportunityStreamId(opportunityId),
        { type: 'CloseOpportunity', data: { opportunityId, outcome, ...(outcome === 'LOST' ? { lossReason: 'PRICE' } : {}) } },
        step(random.int(5, 40), 'CloseOpportunity'),
      );
    }
  } finally {
    await completer?.start();
  }

  const listsAt = options.listsAt.getTime();
  const everyId = [...leads.map((lead) => lead.id), ...engagedIds];
  const some = (share: number) => everyId.filter(() => random.chance(share));
  const list = async (name: string, data: { filter?: SavedLeadFilter; leadIds?: string[] }, then?: 'remove half' | 'archive') => {
    const listId = deterministicId('kpi-test', options.seed, 'list', name);
    const stream = leadListStreamId(listId);
    const leadIds = data.leadIds ?? [];
    const kind = data.filter ? 'DYNAMIC' : 'STATIC';
    await run(leadListDecider, stream, { type: 'CreateLeadList', data: { listId, name, kind, filter: data.filter } }, contextAt(listsAt, 'marketing.ops', 'CreateLeadList', name));
    for (let from = 0; from < leadIds.length; from += 1000) {
      const batch = leadIds.slice(from, from + 1000);
      await run(leadListDecider, stream, { type: 'AddLeadsToList', data: { listId, leadIds: batch } }, contextAt(listsAt, 'marketing.ops', 'AddLeadsToList', name, from));
    }
    if (then === 'remove half') {
      const removed = leadIds.filter((_, index) => index % 2 === 0).slice(0, 1000);
      await run(leadListDecider, stream, { type: 'RemoveLeadsFromList', data: { listId, leadIds: removed } }, contextAt(listsAt, 'marketing.ops', 'RemoveLeadsFromList', name));
    }
    if (then === 'archive') {
      await run(leadListDecider, stream, { type: 'ArchiveLeadList', data: { listId } }, contextAt(listsAt, 'marketing.ops', 'ArchiveLeadList', name));
    }
    summary.lists[kind === 'STATIC' ? 'static' : 'dynamic']++;
  };
  const picks = some(0.08);
  await list('Trade fair picks', { leadIds: picks });
  // Overlaps the first: a lead in both counts in both.
  await list('Key accounts', { leadIds: [...picks.filter(() => random.chance(0.3)), ...some(0.03)] });
  await list('Cleaned up', { leadIds: some(0.04) }, 'remove half');
  await list('Last year', { leadIds: some(0.02) }, 'archive');
  const named = leads.find((lead) => lead.person !== null);
  const lastName = named ? (JSON.parse(named.person!) as LeadPerson).lastName : 'garcia';
  await list('Web forms', { filter: { source: 'WEB_FORM' } });
  await list('Lost causes', { filter: { status: 'DISQUALIFIED' } });
  await list('Hot for one owner', { filter: { ownerId: leads.find((lead) => lead.owner_id !== null)?.owner_id ?? 'nobody', rank: 'SQL' } });
  await list('Namesakes', { filter: { search: lastName.toUpperCase() } });
  await list('Won back', { filter: { campaign: 'we-miss-you' } });
  await list('Scored', { filter: { minScore: 1 } });
  return summary;
};
