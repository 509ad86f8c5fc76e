import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { printCrmSchema } from '../src/graphql/schema';

const SCHEMA_FILE = path.join(__dirname, '..', 'schema', 'schema.graphql');

describe('schema/schema.graphql', () => {
  it('is what the code builds (run `npm run schema` after changing the API)', async () => {
    expect(await printCrmSchema()).toBe(readFileSync(SCHEMA_FILE, 'utf8'));
  });

  it('keeps every name of the client contract (docs/API.md)', async () => {
    const sdl = await printCrmSchema();
    for (const name of [
      'captureLead(input: CaptureLeadInput!): CaptureLeadPayload!',
      'logLeadContact(input: LogLeadContactInput!): LogLeadContactPayload!',
      'qualifyLead(input: QualifyLeadInput!): QualifyLeadPayload!',
      'disqualifyLead(input: DisqualifyLeadInput!): DisqualifyLeadPayload!',
      // Arguments were added (time travel, ordering by score): optional, so old queries still work.
      'lead(asOf: DateTime, id: ID!, knownAt: DateTime): Lead',
      'leads(after: String, filter: LeadFilter, first: Int, orderBy: LeadOrder): LeadConnection!',
      'history(streamId: ID!): [RecordedEvent!]!',
      'disqualificationReasons: [Reason!]!',
      'lossReasons: [Reason!]!',
      'personalData(subjectId: ID!): PersonalDataReport!',
      'erasePersonalData(input: ErasePersonalDataInput!): PersonalDataErasure!',
      'rescoreOpenLeads(input: RescoreOpenLeadsInput): RescoreOpenLeadsPayload!',
      'scoringJob(id: ID!): ScoringJob',
      'enum LeadStatus {\n  CONTACTED\n  CONVERTED\n  DISQUALIFIED\n  NEW\n  QUALIFIED\n}',
      'enum LeadRank {\n  MQL\n  SQL\n  UNRANKED\n}',
    ]) {
      expect(sdl).toContain(name);
    }
  });
});
