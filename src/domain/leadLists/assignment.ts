/**
 * Who gets which lead when a list is handed to the sales team. Pure: the leads and the owners'
 * current loads are read by the caller and passed in.
 *
 * ROUND_ROBIN deals the leads out in turn, in the owners' order. LEAST_LOADED gives each lead to
 * the owner with the fewest open leads at that moment, counting those dealt so far (ties: the
 * owner named first), so a team ends as even as it can.
 */
import type { AssignmentStrategy } from './events';

export interface ListLead {
  leadId: string;
  ownerId?: string;
  /** Only open leads (new, contacted, qualified) are assigned. */
  open: boolean;
}

export interface AssignmentPlan {
  assignments: { leadId: string; ownerId: string }[];
  leftOut: number;
}

export const planAssignment = (
  leads: readonly ListLead[],
  owners: readonly string[],
  strategy: AssignmentStrategy,
  onlyUnassigned: boolean,
  /** Open leads each owner holds now; absent owners hold none. */
  loads: ReadonlyMap<string, number> = new Map(),
): AssignmentPlan => {
  const eligible = leads.filter((lead) => lead.open && !(onlyUnassigned && lead.ownerId !== undefined));
  // A lead that changes hands leaves its current owner's load (when that owner is in the team).
  const load = new Map(owners.map((owner) => [owner, loads.get(owner) ?? 0]));
  for (const lead of eligible) {
    if (lead.ownerId !== undefined && load.has(lead.ownerId)) load.set(lead.ownerId, load.get(lead.ownerId)! - 1);
  }
  const assignments = eligible.map((lead, index) => {
    const ownerId = strategy === 'ROUND_ROBIN' ? owners[index % owners.length]! : leastLoaded(owners, load);
    load.set(ownerId, load.get(ownerId)! + 1);
    return { leadId: lead.leadId, ownerId };
  });
  return { assignments, leftOut: leads.length - eligible.length };
};

const leastLoaded = (owners: readonly string[], load: ReadonlyMap<string, number>): string =>
  owners.reduce((best, owner) => (load.get(owner)! < load.get(best)! ? owner : best));
