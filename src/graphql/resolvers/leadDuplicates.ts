/** `Lead.possibleDuplicates`: asked of the read models when read, so it is never stale. */
import { Authorized, Ctx, FieldResolver, Resolver, Root } from 'type-graphql';
import { findPossibleDuplicates } from '../../../projections/leads/duplicateQueries';
import type { GraphQLContext } from '../shared/context';
import { DuplicateCandidate } from '../types/duplicates';
import { Lead } from '../types/leads';

@Authorized()
@Resolver(() => Lead)
export class LeadDuplicatesResolver {
  @FieldResolver(() => [DuplicateCandidate], {
    description:
      'Open leads and contacts that may be the same person now: the same e-mail, or the same name at the same company. ' +
      'A lead is captured all the same; this is for a person to decide',
  })
  async possibleDuplicates(@Root() lead: Lead, @Ctx() context: GraphQLContext): Promise<DuplicateCandidate[]> {
    // A lead opened for a contact, or converted into one, is that contact: it never suspects itself.
    const ownContact = lead.contactId ?? lead.conversion?.contactId;
    return findPossibleDuplicates(context.app.readDb, { person: lead.person ?? null, company: lead.company ?? null }, lead.id, ownContact);
  }
}
