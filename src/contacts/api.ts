/** The contact's GraphQL adapter: mutation → command → read model; queries → read model. */
import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { Account, toAccount } from '../accounts/graphqlTypes';
import { accountStreamId } from '../accounts/events';
import { readStreamOrEmpty } from '../core/commandHandler';
import { NotFoundError, ValidationError } from '../core/errors';
import { deterministicId, newId } from '../core/ids';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../graphql/common';
import type { GraphQLContext } from '../graphql/context';
import { commandIdFor, requireActor, runCommand } from '../graphql/runCommand';
import { getAccount } from '../../projections/accounts/accountsReadModel';
import { contactLeadCycles, findContacts, getContact } from '../../projections/contacts/contactsReadModel';
import type { ContactCommand } from './decide';
import { contactStreamId } from './events';
import {
  Contact,
  ContactConnection,
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
  UpdateContactInput,
  UpdateContactPayload,
  toContact,
  toContactLeadCycle,
} from './graphqlTypes';
import { plainInput } from '../core/json';

@Authorized()
@Resolver(() => Contact)
export class ContactResolver {
  @Mutation(() => CreateContactPayload)
  async createContact(@Arg('input', () => CreateContactInput) input: CreateContactInput, @Ctx() context: GraphQLContext) {
    const commandId = commandIdFor(context, 'CreateContact', input.idempotencyKey);
    const contactId = input.idempotencyKey ? deterministicId(commandId, 'contact') : newId();
    const { idempotencyKey: _key, ...details } = plainInput(input);
    if (details.accountId) await requireAccount(context, details.accountId);
    // Whoever creates a contact owns it unless they name someone else, as conversion does.
    const data = { ...details, ownerId: details.ownerId ?? requireActor(context), contactId };
    return this.execute(context, input, contactId, { type: 'CreateContact', data }, false);
  }

  @Mutation(() => UpdateContactPayload)
  async updateContact(@Arg('input', () => UpdateContactInput) input: UpdateContactInput, @Ctx() context: GraphQLContext) {
    const { contactId, firstName, lastName, email, phone, jobTitle } = plainInput(input);
    return this.execute(context, input, contactId, {
      type: 'UpdateContact',
      data: { contactId, firstName, lastName, email, phone, jobTitle },
    });
  }

  @Mutation(() => MoveContactPayload)
  async moveContact(@Arg('input', () => MoveContactInput) input: MoveContactInput, @Ctx() context: GraphQLContext) {
    const { contactId, accountId } = plainInput(input);
    if (accountId) await requireAccount(context, accountId);
    return this.execute(context, input, contactId, { type: 'MoveContact', data: { contactId, accountId } });
  }

  @Mutation(() => DeactivateContactPayload)
  async deactivateContact(
    @Arg('input', () => DeactivateContactInput) input: DeactivateContactInput,
    @Ctx() context: GraphQLContext,
  ) {
    const { contactId, reason } = plainInput(input);
    return this.execute(context, input, contactId, { type: 'DeactivateContact', data: { contactId, reason } });
  }

  @Mutation(() => ReactivateContactPayload)
  async reactivateContact(
    @Arg('input', () => ReactivateContactInput) input: ReactivateContactInput,
    @Ctx() context: GraphQLContext,
  ) {
    const { contactId } = plainInput(input);
    return this.execute(context, input, contactId, { type: 'ReactivateContact', data: { contactId } });
  }

  @Query(() => Contact, { nullable: true })
  async contact(@Arg('id', () => ID) id: string, @Ctx() context: GraphQLContext): Promise<Contact | undefined> {
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
    const pageSize = first ?? DEFAULT_PAGE_SIZE;
    if (pageSize < 0 || pageSize > MAX_PAGE_SIZE) {
      throw new ValidationError([{ field: 'first', message: `must be between 0 and ${MAX_PAGE_SIZE}` }]);
    }
    const page = await findContacts(context.app.readDb, {
      filter: filter ? plainInput({ ...filter }) : undefined,
      first: pageSize,
      after: after ?? undefined,
    });
    return {
      edges: page.nodes.map((view, index) => ({ cursor: page.cursors[index]!, node: toContact(view) })),
      pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.endCursor },
      totalCount: page.totalCount,
    };
  }

  @FieldResolver(() => Account, { nullable: true })
  async account(@Root() contact: Contact, @Ctx() context: GraphQLContext): Promise<Account | undefined> {
    const view = contact.accountId ? await getAccount(context.app.readDb, contact.accountId) : undefined;
    return view && toAccount(view);
  }

  @FieldResolver(() => [ContactLeadCycle], { description: 'The lead cycles this contact came from, oldest first' })
  async leadCycles(@Root() contact: Contact, @Ctx() context: GraphQLContext): Promise<ContactLeadCycle[]> {
    return (await contactLeadCycles(context.app.readDb, contact.id)).map(toContactLeadCycle);
  }

  private async execute(
    context: GraphQLContext,
    input: { idempotencyKey?: string; expectedRevision?: number },
    contactId: string,
    command: ContactCommand,
    mustExist = true,
  ): Promise<{ contact: Contact }> {
    const result = await runCommand(context, {
      decider: context.app.contactDecider,
      streamId: contactStreamId(contactId),
      command,
      commandType: command.type,
      input: plainInput(input),
      existingEntity: mustExist ? { type: 'Contact', id: contactId } : undefined,
    });
    const view = await getContact(context.app.readDb, contactId);
    if (!view) throw new Error(`Contact ${contactId} is missing from the read model after revision ${result.revision}`);
    return { contact: toContact(view) };
  }
}

/** The event log, not a read model, says whether the account exists: it is never behind. */
const requireAccount = async (context: GraphQLContext, accountId: string): Promise<void> => {
  if ((await readStreamOrEmpty(context.app.store, accountStreamId(accountId))).length === 0) {
    throw new NotFoundError('Account', accountId);
  }
};
