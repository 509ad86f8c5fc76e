/** The contact's GraphQL adapter: mutation → command → read model; queries → read model. */
import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { getAccount } from '../../../projections/accounts/accountsReadModel';
import type { ContactView } from '../../../projections/contacts/contactView';
import { contactLeadCycles, findContacts, getContact } from '../../../projections/contacts/contactsReadModel';
import { plainInput } from '../../core/json';
import type { ContactState } from '../../domain/contacts/contact';
import type { ContactCommand } from '../../domain/contacts/decide';
import type { ContactEvent } from '../../domain/contacts/events';
import { contactStreamId } from '../../domain/contacts/events';
import { accountAsOf, contactAsOf, isTimeTravel, TIME_TRAVEL_DESCRIPTION } from '../../useCases/asOf';
import { contactAtRevision } from '../../useCases/atRevision';
import { DateTimeScalar } from '../shared/scalars';
import { requireAccount } from '../../useCases/referenceChecks';
import { connection, pageSize } from '../shared/common';
import { requireOwnOwnerId } from '../shared/ownership';
import type { GraphQLContext } from '../shared/context';
import { mutate, newEntityIds, requireActor, type EntityKind } from '../shared/runCommand';
import { Account, toAccount, type AccountFields } from '../types/accounts';
import { Lead } from '../types/leads';
import {
  Contact,
  ContactConnection,
  type ContactFields,
  ContactFilter,
  ContactLeadCycle,
  CreateContactInput,
  CreateContactPayload,
  DeactivateContactInput,
  DeactivateContactPayload,
  MoveContactInput,
  MoveContactPayload,
  ReactivateContactInput,
  ReactivateContactPayload,
  toContact,
  toContactLeadCycle,
  UpdateContactInput,
  UpdateContactPayload,
} from '../types/contacts';


/** Contacts as `mutate` handles them. */
const CONTACT: EntityKind<ContactState, ContactCommand, ContactEvent, ContactView, { contact: Contact }> = {
  name: 'Contact',
  readModels: ['contacts', 'accounts'],
  decider: (app) => app.contactDecider,
  streamId: contactStreamId,
  read: getContact,
  readAt: (app, id, at) => contactAtRevision(app.store, id, at.revision),
  payload: (view) => ({ contact: toContact(view) }),
};

@Authorized()
@Resolver(() => Contact)
export class ContactResolver {
  @Mutation(() => CreateContactPayload)
  async createContact(@Arg('input', () => CreateContactInput) input: CreateContactInput, @Ctx() context: GraphQLContext) {
    const { commandId, id: contactId } = newEntityIds(context, 'CreateContact', input.idempotencyKey, 'contact');
    const plain = plainInput(input);
    const { idempotencyKey: _key, ...details } = plain;
    requireOwnOwnerId(context, details.ownerId, 'contact');
    if (details.accountId) await requireAccount(context.app.store, details.accountId);
    // Whoever creates a contact owns it unless they name someone else, as conversion does.
    const data = { ...details, ownerId: details.ownerId ?? requireActor(context), contactId };
    return mutate(context, CONTACT, contactId, plain, { type: 'CreateContact', data }, { isNew: true, commandId });
  }

  @Mutation(() => UpdateContactPayload)
  async updateContact(@Arg('input', () => UpdateContactInput) input: UpdateContactInput, @Ctx() context: GraphQLContext) {
    const plain = plainInput(input);
    const { contactId, firstName, lastName, email, phone, jobTitle, address } = plain;
    return mutate(context, CONTACT, contactId, plain, {
      type: 'UpdateContact',
      data: { contactId, firstName, lastName, email, phone, jobTitle, address },
    });
  }

  @Mutation(() => MoveContactPayload)
  async moveContact(@Arg('input', () => MoveContactInput) input: MoveContactInput, @Ctx() context: GraphQLContext) {
    const plain = plainInput(input);
    const { contactId, accountId } = plain;
    if (accountId) await requireAccount(context.app.store, accountId);
    return mutate(context, CONTACT, contactId, plain, { type: 'MoveContact', data: { contactId, accountId } });
  }

  @Mutation(() => DeactivateContactPayload)
  async deactivateContact(
    @Arg('input', () => DeactivateContactInput) input: DeactivateContactInput,
    @Ctx() context: GraphQLContext,
  ) {
    const plain = plainInput(input);
    const { contactId, reason } = plain;
    return mutate(context, CONTACT, contactId, plain, { type: 'DeactivateContact', data: { contactId, reason } });
  }

  @Mutation(() => ReactivateContactPayload)
  async reactivateContact(
    @Arg('input', () => ReactivateContactInput) input: ReactivateContactInput,
    @Ctx() context: GraphQLContext,
  ) {
    const plain = plainInput(input);
    const { contactId } = plain;
    return mutate(context, CONTACT, contactId, plain, { type: 'ReactivateContact', data: { contactId } });
  }

  @Query(() => Contact, {
    nullable: true,
    description: `One contact. ${TIME_TRAVEL_DESCRIPTION} In the past, its account is the one it belonged to then, as it was then`,
  })
  async contact(
    @Arg('id', () => ID) id: string,
    @Ctx() context: GraphQLContext,
    @Arg('asOf', () => DateTimeScalar, { nullable: true }) asOf?: Date,
    @Arg('knownAt', () => DateTimeScalar, { nullable: true }) knownAt?: Date,
  ): Promise<ContactFields | undefined> {
    const window = { asOf: asOf ?? undefined, knownAt: knownAt ?? undefined };
    if (isTimeTravel(window)) {
      const then = await contactAsOf(context.app.store, id, window);
      return then && { ...toContact(then), window };
    }
    const view = await getContact(context.app.readDb, id);
    return view && toContact(view);
  }

  @Query(() => ContactConnection)
  async contacts(
    @Ctx() context: GraphQLContext,
    @Arg('filter', () => ContactFilter, { nullable: true }) filter?: ContactFilter,
    @Arg('first', () => Int, { nullable: true }) first?: number,
    @Arg('after', () => String, { nullable: true }) after?: string,
  ): Promise<ContactConnection> {
    const page = await findContacts(context.app.readDb, {
      filter: filter ? plainInput({ ...filter }) : undefined,
      first: pageSize(first),
      after: after ?? undefined,
      counts: context.app.reports,
    });
    return connection(page, toContact);
  }

  @FieldResolver(() => Account, { nullable: true, description: 'For a contact as of a past time, its account as it was then' })
  async account(@Root() contact: ContactFields, @Ctx() context: GraphQLContext): Promise<AccountFields | undefined> {
    if (!contact.accountId) return undefined;
    const { window } = contact;
    if (window) {
      const then = await accountAsOf(context.app, contact.accountId, window);
      return then && { ...toAccount(then), window };
    }
    const view = await getAccount(context.app.readDb, contact.accountId);
    return view && toAccount(view);
  }

  @FieldResolver(() => [ContactLeadCycle], {
    description:
      'Every lead cycle of this contact, oldest first: those it came from or joined by conversion, and those opened for it (engageContact)',
  })
  async leadCycles(@Root() contact: Contact, @Ctx() context: GraphQLContext): Promise<ContactLeadCycle[]> {
    return (await contactLeadCycles(context.app.readDb, contact.id)).map(toContactLeadCycle);
  }
}

/** Lets a lead point to its contact, as the contact points to its lead cycles. */
@Authorized()
@Resolver(() => Lead)
export class LeadContactResolver {
  @FieldResolver(() => Contact, {
    nullable: true,
    description:
      'The contact this lead is: the one it was opened for (engageContact), else the one its conversion made or joined; ' +
      'null for a lead captured as a stranger and not converted',
  })
  async contact(@Root() lead: Lead, @Ctx() context: GraphQLContext): Promise<Contact | undefined> {
    const contactId = lead.contactId ?? lead.conversion?.contactId;
    const view = contactId === undefined ? undefined : await getContact(context.app.readDb, contactId);
    return view && toContact(view);
  }
}
