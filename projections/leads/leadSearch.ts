/** The leads' search index (see searchIndex.ts): what `leads(filter: { search })` and dynamic lists match. */
import { searchIndexOn } from '../searchIndex';

export const LEAD_SEARCH = searchIndexOn('read_leads');
