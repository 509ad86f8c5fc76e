/** The account's GraphQL adapter: mutation → command → read model; queries → read model. */
import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { ValidationError } from '../core/errors';
import { deterministicId, newId } from '../core/ids';
import { Contact, toContact } from '../contacts/graphqlTypes';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../graphql/common';
import type { GraphQLContext } from '../graphql/context';
import { toOpportunity, type OpportunityFields } from '../opportunities/api';
import { Opportunity } from '../opportunities/graphqlTypes';
import { commandIdFor, requireActor, runCommand } from '../graphql/runCommand';
import { findAccounts, getAccount } from '../../projections/accounts/accountsReadModel';
import { contactsOfAccount } from '../../projections/contacts/contactsReadModel';
import { opportunitiesOfAccount } from '../../projections/opportunities/opportunitiesReadModel';
import type { AccountCommand } from './decide';
import { accountStreamId } from './events';
import {
  Account,
  AccountConnection,
  AccountFilter,
  OpenAccountInput,
  OpenAccountPayload,
  UpdateAccountInput,
  UpdateAccountPayload,
  toAccount,
} from './graphqlTypes';
import { plainInput } from '../core/json';

@Authorized()
@Resolver(() => Account)
export class AccountResolver {
  @Mutation(() => OpenAccountPayload)
  async openAccount(@Arg('input', () => OpenAccountInput) input: OpenAccountInput, @Ctx() context: GraphQLContext) {
    const commandId = commandIdFor(context, 'OpenAccount', input.idempotencyKey);
    const accountId = input.idempotencyKey ? deterministicId(commandId, 'account') : newId();
    const { idempotencyKey: _key, ...details } = plainInput(input);
    // Whoever opens an account owns it unless they name someone else, as conversion does.
    const data = { ...details, ownerId: details.ownerId ?? requireActor(context), accountId };
    return this.execute(context, input, accountId, { type: 'OpenAccount', data }, false);
  }

  @Mutation(() => UpdateAccountPayload)
  async updateAccount(@Arg('input', () => UpdateAccountInput) input: UpdateAccountInput, @Ctx() context: GraphQLContext) {
    const { accountId, name, website, phone, industry, size, address, ownerId } = plainInput(input);
    return this.execute(context, input, accountId, {
      type: 'UpdateAccount',
      data: { accountId, name, website, phone, industry, size, address, ownerId },
    });
  }

  @Query(() => Account, { nullable: true })
  async account(@Arg('id', () => ID) id: string, @Ctx() context: GraphQLContext): Promise<Account | undefined> {
    const view = await getAccount(context.app.readDb, id);
    return view && toAccount(view);
  }

  @Query(() => AccountConnection)
  async accounts(
    @Ctx() context: GraphQLContext,
    @Arg('filter', () => AccountFilter, { nullable: true }) filter?: AccountFilter,
    @Arg('first', () => Int, { nullable: true }) first?: number,
    @Arg('after', () => String, { nullable: true }) after?: string,
  ): Promise<AccountConnection> {
    const pageSize = first ?? DEFAULT_PAGE_SIZE;
    if (pageSize < 0 || pageSize > MAX_PAGE_SIZE) {
      throw new ValidationError([{ field: 'first', message: `must be between 0 and ${MAX_PAGE_SIZE}` }]);
    }
    const page = await findAccounts(context.app.readDb, {
      filter: filter ? plainInput({ ...filter }) : undefined,
      first: pageSize,
      after: after ?? undefined,
    });
    return {
      edges: page.nodes.map((view, index) => ({ cursor: page.cursors[index]!, node: toAccount(view) })),
      pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.endCursor },
      totalCount: page.totalCount,
    };
  }

  @FieldResolver(() => [Contact], { description: 'Active and inactive, alphabetical' })
  async contacts(@Root() account: Account, @Ctx() context: GraphQLContext): Promise<Contact[]> {
    return (await contactsOfAccount(context.app.readDb, account.id)).map(toContact);
  }

  @FieldResolver(() => [Opportunity], { description: 'Open and closed, newest first' })
  async opportunities(@Root() account: Account, @Ctx() context: GraphQLContext): Promise<OpportunityFields[]> {
    return (await opportunitiesOfAccount(context.app.readDb, account.id)).map((view) => toOpportunity(view, context));
  }

  private async execute(
    context: GraphQLContext,
    input: { idempotencyKey?: string; expectedRevision?: number },
    accountId: string,
    command: AccountCommand,
    mustExist = true,
  ): Promise<{ account: Account }> {
    const result = await runCommand(context, {
      decider: context.app.accountDecider,
      streamId: accountStreamId(accountId),
      command,
      commandType: command.type,
      input: plainInput(input),
      existingEntity: mustExist ? { type: 'Account', id: accountId } : undefined,
    });
    const view = await getAccount(context.app.readDb, accountId);
    if (!view) throw new Error(`Account ${accountId} is missing from the read model after revision ${result.revision}`);
    return { account: toAccount(view) };
  }
}
