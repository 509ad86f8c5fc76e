/** The account's GraphQL adapter: mutation → command → read model; queries → read model. */
import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { AccountView } from '../../../projections/accounts/accountView';
import { findAccounts, getAccount } from '../../../projections/accounts/accountsReadModel';
import { contactsOfAccount } from '../../../projections/contacts/contactsReadModel';
import { opportunitiesOfAccount } from '../../../projections/opportunities/opportunitiesQueries';
import { plainInput } from '../../core/json';
import type { AccountState } from '../../domain/accounts/account';
import type { AccountCommand } from '../../domain/accounts/decide';
import type { AccountEvent } from '../../domain/accounts/events';
import { accountStreamId } from '../../domain/accounts/events';
import { accountAsOf, accountContactsAsOf, accountOpportunitiesAsOf, isTimeTravel, TIME_TRAVEL_DESCRIPTION } from '../../useCases/asOf';
import { accountAtRevision } from '../../useCases/atRevision';
import { DateTimeScalar } from '../shared/scalars';
import { connection, pageSize } from '../shared/common';
import { ownedByCaller, requireOwnOwnerId } from '../shared/ownership';
import type { GraphQLContext } from '../shared/context';
import { mutate, newEntityIds, requireActor, type EntityKind } from '../shared/runCommand';
import {
  Account,
  AccountConnection,
  type AccountFields,
  AccountFilter,
  OpenAccountInput,
  OpenAccountPayload,
  toAccount,
  UpdateAccountInput,
  UpdateAccountPayload,
} from '../types/accounts';
import { Contact, toContact, type ContactFields } from '../types/contacts';
import { Opportunity, type OpportunityFields } from '../types/opportunities';
import { toOpportunity } from './opportunities';


/** Accounts as `mutate` handles them. */
const ACCOUNT: EntityKind<AccountState, AccountCommand, AccountEvent, AccountView, { account: Account }> = {
  name: 'Account',
  readModels: ['accounts', 'contacts', 'opportunities'],
  decider: (app) => app.accountDecider,
  streamId: accountStreamId,
  read: getAccount,
  readAt: (app, id, at) => accountAtRevision(app, id, at.revision, at.position),
  payload: (view) => ({ account: toAccount(view) }),
  authorize: (context) => ownedByCaller(context, 'account'),
};

@Authorized()
@Resolver(() => Account)
export class AccountResolver {
  @Mutation(() => OpenAccountPayload)
  async openAccount(@Arg('input', () => OpenAccountInput) input: OpenAccountInput, @Ctx() context: GraphQLContext) {
    const { commandId, id: accountId } = newEntityIds(context, 'OpenAccount', input.idempotencyKey, 'account');
    const plain = plainInput(input);
    const { idempotencyKey: _key, ...details } = plain;
    requireOwnOwnerId(context, details.ownerId, 'account');
    // Whoever opens an account owns it unless they name someone else, as conversion does.
    const data = { ...details, ownerId: details.ownerId ?? requireActor(context), accountId };
    return mutate(context, ACCOUNT, accountId, plain, { type: 'OpenAccount', data }, { isNew: true, commandId });
  }

  @Mutation(() => UpdateAccountPayload)
  async updateAccount(@Arg('input', () => UpdateAccountInput) input: UpdateAccountInput, @Ctx() context: GraphQLContext) {
    const plain = plainInput(input);
    const { accountId, name, website, phone, industry, size, address, ownerId } = plain;
    requireOwnOwnerId(context, ownerId, 'account');
    return mutate(context, ACCOUNT, accountId, plain, {
      type: 'UpdateAccount',
      data: { accountId, name, website, phone, industry, size, address, ownerId },
    });
  }

  @Query(() => Account, {
    nullable: true,
    description:
      `One account. ${TIME_TRAVEL_DESCRIPTION} In the past, its status (a win standing then), owner, contacts and ` +
      'opportunities are those of that time',
  })
  async account(
    @Arg('id', () => ID) id: string,
    @Ctx() context: GraphQLContext,
    @Arg('asOf', () => DateTimeScalar, { nullable: true }) asOf?: Date,
    @Arg('knownAt', () => DateTimeScalar, { nullable: true }) knownAt?: Date,
  ): Promise<AccountFields | undefined> {
    const window = { asOf: asOf ?? undefined, knownAt: knownAt ?? undefined };
    if (isTimeTravel(window)) {
      const then = await accountAsOf(context.app, id, window);
      return then && { ...toAccount(then), window };
    }
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
    const page = await findAccounts(context.app.readDb, {
      filter: filter ? plainInput({ ...filter }) : undefined,
      first: pageSize(first),
      after: after ?? undefined,
      counts: context.app.reports,
    });
    return connection(page, toAccount);
  }

  @FieldResolver(() => [Contact], { description: 'Active and inactive, alphabetical; for an account as of a past time, its contacts then' })
  async contacts(@Root() account: AccountFields, @Ctx() context: GraphQLContext): Promise<ContactFields[]> {
    const { window } = account;
    if (window) return (await accountContactsAsOf(context.app, account.id, window)).map((view) => ({ ...toContact(view), window }));
    return (await contactsOfAccount(context.app.readDb, account.id)).map(toContact);
  }

  @FieldResolver(() => [Opportunity], {
    description: 'Open and closed, newest first; for an account as of a past time, its opportunities as they were then',
  })
  async opportunities(@Root() account: AccountFields, @Ctx() context: GraphQLContext): Promise<OpportunityFields[]> {
    if (account.window) {
      const snapshots = await accountOpportunitiesAsOf(context.app, account.id, account.window);
      return snapshots.map((snapshot) => ({ ...toOpportunity(snapshot.view, context), snapshot }));
    }
    return (await opportunitiesOfAccount(context.app.readDb, account.id)).map((view) => toOpportunity(view, context));
  }
}
