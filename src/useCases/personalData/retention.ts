/**
 * Retention: people who only ever were leads, disqualified or left untouched for longer than the
 * policy allows, are erased, each by an erasure of origin RETENTION that says which rule and
 * which date. A person who became a contact (any of their lead cycles converted) is a customer
 * relationship, not a retention case, and is left alone. A dry run lists who would be erased.
 */
import { leadsPastRetention, type RetentionCandidate } from '../../../projections/leads/retentionQueries';
import type { SqlDatabase } from '../../../projections/sqlDatabase';
import type { CommandContext } from '../../core/commandHandler';
import { deterministicId } from '../../core/ids';
import { erasePersonalData, type ErasureDeps, type ErasureResult } from './erasure';
import { findPerson } from './person';

/** A span of time as an operator writes it: `24m` (months), `2y`, `90d`. */
export interface RetentionAge {
  text: string;
  months: number;
  days: number;
}

export const parseRetentionAge = (text: string): RetentionAge => {
  const match = /^(\d+)\s*([dmy])$/i.exec(text.trim());
  if (!match || Number(match[1]) === 0) {
    throw new Error(`a retention age is a whole number followed by d, m or y (e.g. 24m, 2y, 730d); got ${JSON.stringify(text)}`);
  }
  const count = Number(match[1]);
  const unit = match[2]!.toLowerCase();
  return { text: `${count}${unit}`, months: unit === 'm' ? count : unit === 'y' ? 12 * count : 0, days: unit === 'd' ? count : 0 };
};

/** The instant `age` before `now`, in calendar months (UTC) or days. */
export const cutoffBefore = (now: Date, age: RetentionAge): Date => {
  const cutoff = new Date(now);
  cutoff.setUTCMonth(cutoff.getUTCMonth() - age.months);
  cutoff.setUTCDate(cutoff.getUTCDate() - age.days);
  return cutoff;
};

export interface RetentionPlanEntry extends RetentionCandidate {
  /** The person's leads (every cycle): all past the cut-off, none converted. */
  leadIds: string[];
}

export interface RetentionRun {
  cutoff: string;
  policy: string;
  /** Who the policy reaches (a dry run stops here). */
  planned: RetentionPlanEntry[];
  /** People a candidate lead led to who are kept: they became a contact, or another lead is recent. */
  kept: { leadId: string; why: string }[];
  erased: ErasureResult[];
}

export interface RetentionDeps extends ErasureDeps {
  readDb: SqlDatabase;
}

export const runRetention = async (
  deps: RetentionDeps,
  options: { olderThan: RetentionAge; now: Date; dryRun: boolean; context: Omit<CommandContext, 'commandId' | 'commandType'> },
): Promise<RetentionRun> => {
  const cutoff = cutoffBefore(options.now, options.olderThan);
  const policy = `retention: leads disqualified or untouched for more than ${options.olderThan.text}, never converted`;
  const candidates = await leadsPastRetention(deps.readDb, cutoff);
  const due = new Set(candidates.map((candidate) => candidate.leadId));
  const planned: RetentionPlanEntry[] = [];
  const kept: RetentionRun['kept'] = [];
  const seen = new Set<string>();
  for (const candidate of candidates) {
    if (seen.has(candidate.leadId)) continue;
    const person = await findPerson(deps.sealedStore, candidate.leadId);
    for (const leadId of person.leadIds) seen.add(leadId);
    if (person.contactIds.length > 0) {
      kept.push({ leadId: candidate.leadId, why: 'the person became a contact' });
    } else if (!person.leadIds.every((leadId) => due.has(leadId))) {
      kept.push({ leadId: candidate.leadId, why: 'another lead of the same person is within the retention period' });
    } else {
      planned.push({ ...candidate, leadIds: person.leadIds });
    }
  }
  const erased: ErasureResult[] = [];
  if (!options.dryRun) {
    for (const entry of planned) {
      const commandType = 'ErasePersonalData';
      erased.push(
        await erasePersonalData(
          deps,
          {
            subjectId: entry.leadId,
            origin: 'RETENTION',
            reason: `${policy} (${entry.status === 'DISQUALIFIED' ? 'disqualified' : 'last fact'} ${entry.since}, cut-off ${cutoff.toISOString()})`,
          },
          // Derived from the lead and the cut-off: a retention run that dies and runs again records each erasure once.
          { ...options.context, commandType, commandId: deterministicId('retention', entry.leadId, cutoff.toISOString()) },
        ),
      );
    }
  }
  return { cutoff: cutoff.toISOString(), policy, planned, kept, erased };
};
