/** The account's GraphQL shapes: what clients send (inputs, validated) and what they read. */
import { IsInt, IsNotEmpty, IsOptional, IsUrl, Length, MaxLength, Min, ValidateNested } from 'class-validator';
import 'reflect-metadata';
import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import type { AccountView } from '../../../projections/accounts/accountView';
import { ACCOUNT_STATUSES, type AccountStatus } from '../../domain/accounts/account';
import { ACCOUNT_KINDS, type AccountKind } from '../../domain/accounts/events';
import { type Connection, connectionOf, enumOf, MutationInput, payloadOf, SHORT } from '../shared/common';
import { DateTimeScalar } from '../shared/scalars';
import type { TimeWindow } from '../../useCases/asOf';
import { Address, AddressInput } from './leads';

export const AccountKindEnum = enumOf(ACCOUNT_KINDS);
export const AccountStatusEnum = enumOf(ACCOUNT_STATUSES);
registerEnumType(AccountKindEnum, {
  name: 'AccountKind',
  description: 'A B2B company, or a B2C grouping chosen by the business (a region, a store, a profit centre)',
});
registerEnumType(AccountStatusEnum, {
  name: 'AccountStatus',
  description: 'PROSPECT until an opportunity of the account is won, then CUSTOMER while a win stands',
});

const WEBSITE_MESSAGE = 'website must be a web address such as example.com';

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

@InputType({ description: 'Fields every account input shares (never used on its own)' })
abstract class AccountMutationInput extends MutationInput {

  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(50) phone?: string;
  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(SHORT) industry?: string;

  @Field(() => String, { nullable: true, description: 'Head count band, e.g. "11-50"' })
  @IsOptional()
  @MaxLength(50)
  size?: string;

  @Field(() => AddressInput, { nullable: true, description: 'Replaces the whole address' })
  @IsOptional()
  @ValidateNested()
  address?: AddressInput;

  @Field(() => ID, { nullable: true }) @IsOptional() @Length(1, SHORT) ownerId?: string;
}

@InputType()
export class OpenAccountInput extends AccountMutationInput {
  @Field(() => AccountKindEnum) kind!: AccountKind;

  @Field(() => String)
  @IsNotEmpty({ message: 'name must not be empty' })
  @MaxLength(SHORT)
  name!: string;

  @Field(() => String, { nullable: true }) @IsOptional() @IsUrl({ require_protocol: false }, { message: WEBSITE_MESSAGE })
  website?: string;
}

@InputType({ description: 'Absent fields stay as they are' })
export class UpdateAccountInput extends AccountMutationInput {
  @Field(() => ID) @IsNotEmpty() accountId!: string;

  @Field(() => Int, { nullable: true, description: 'The revision you last read; a stale one is a CONFLICT' })
  @IsOptional()
  @IsInt()
  @Min(0)
  expectedRevision?: number;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @IsNotEmpty({ message: 'name must not be empty' })
  @MaxLength(SHORT)
  name?: string;

  @Field(() => String, { nullable: true }) @IsOptional() @IsUrl({ require_protocol: false }, { message: WEBSITE_MESSAGE })
  website?: string;
}

@InputType()
export class AccountFilter {
  @Field(() => AccountKindEnum, { nullable: true }) kind?: AccountKind;
  @Field(() => AccountStatusEnum, { nullable: true }) status?: AccountStatus;
  @Field(() => ID, { nullable: true }) ownerId?: string;

  @Field(() => String, { nullable: true, description: 'Case- and accent-insensitive; name or website' })
  @IsOptional()
  @MaxLength(SHORT)
  search?: string;
}

// ---------------------------------------------------------------------------------------------
// Outputs
// ---------------------------------------------------------------------------------------------

@ObjectType()
export class Account {
  @Field(() => ID) id!: string;
  @Field(() => Int, { description: 'Revision of the account stream: send it back as expectedRevision' })
  revision!: number;
  @Field(() => AccountKindEnum) kind!: AccountKind;
  @Field(() => AccountStatusEnum) status!: AccountStatus;
  @Field(() => String) name!: string;
  @Field(() => String, { nullable: true }) website?: string;
  @Field(() => String, { nullable: true, description: 'The company domain of the website, as duplicates are found by' })
  domain?: string;
  @Field(() => String, { nullable: true }) phone?: string;
  @Field(() => String, { nullable: true }) industry?: string;
  @Field(() => String, { nullable: true }) size?: string;
  @Field(() => Address, { nullable: true }) address?: Address;
  @Field(() => ID, { nullable: true }) ownerId?: string;
  @Field(() => ID, { nullable: true, description: 'The lead whose conversion opened this account' }) fromLeadId?: string;
  @Field(() => DateTimeScalar) createdAt!: Date;
  @Field(() => String) createdBy!: string;
  @Field(() => DateTimeScalar) updatedAt!: Date;
}

/**
 * An account as a resolver hands it on: answered as of a past time (`account(asOf, knownAt)`), it
 * carries that window, so its contacts and opportunities are answered in the same window.
 */
export type AccountFields = Account & { window?: TimeWindow };

export const AccountConnection = connectionOf('Account', Account);
export type AccountConnection = Connection<Account>;

const payload = (name: string) => payloadOf(name, 'account', Account);

export const OpenAccountPayload = payload('OpenAccountPayload');
export const UpdateAccountPayload = payload('UpdateAccountPayload');

export const toAccount = (view: AccountView): Account => ({
  id: view.id,
  revision: view.revision,
  kind: view.kind,
  status: view.status,
  name: view.name,
  website: view.website ?? undefined,
  domain: view.domain ?? undefined,
  phone: view.phone ?? undefined,
  industry: view.industry ?? undefined,
  size: view.size ?? undefined,
  address: view.address ?? undefined,
  ownerId: view.ownerId ?? undefined,
  fromLeadId: view.fromLeadId ?? undefined,
  createdAt: new Date(view.createdAt),
  createdBy: view.createdBy,
  updatedAt: new Date(view.updatedAt),
});
