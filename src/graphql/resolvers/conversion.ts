/** GraphQL for conversion: the `convertLead` mutation and what a converted lead points to. */
import {
  IsBoolean,
  IsInt,
  IsNotEmpty,
  IsOptional,
  Length,
  Matches,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import {
  Arg,
  Authorized,
  Ctx,
  Field,
  FieldResolver,
  ID,
  InputType,
  Int,
  Mutation,
  ObjectType,
  Resolver,
  Root,
} from 'type-graphql';
import { getAccount } from '../../../projections/accounts/accountsReadModel';
import { getContact } from '../../../projections/contacts/contactsReadModel';
import { getOpportunity } from '../../../projections/opportunities/opportunitiesQueries';
import { OCCURRED_AT_DESCRIPTION } from '../../core/backdating';
import { ValidationError } from '../../core/errors';
import { plainInput } from '../../core/json';
import type { AccountKind } from '../../domain/accounts/events';
import type { ConversionRequest } from '../../domain/leads/conversion';
import { convertLead } from '../../useCases/convertLead';
import { convertedViews } from '../../useCases/conversionViews';
import { MoneyInput } from '../shared/common';
import { ownedByCaller } from '../shared/ownership';
import type { GraphQLContext } from '../shared/context';
import { commandContextFor } from '../shared/runCommand';
import { DateTimeScalar } from '../shared/scalars';
import { Account, AccountKindEnum, toAccount } from '../types/accounts';
import { Contact, toContact } from '../types/contacts';
import { AddressInput, Lead, LeadConversion } from '../types/leads';
import { Opportunity, type OpportunityFields } from '../types/opportunities';
import { toLead } from './leads';
import { toOpportunity } from './opportunities';

@InputType({ description: 'A new account: a B2B company, or a B2C grouping such as a region or a store' })
export class NewAccountInput {
  @Field(() => AccountKindEnum) kind!: AccountKind;

  @Field(() => String, { nullable: true, description: "Defaults to the lead's company name for a COMPANY" })
  @IsOptional()
  @IsNotEmpty()
  @MaxLength(200)
  name?: string;

  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(200) website?: string;
  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(50) phone?: string;
  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(200) industry?: string;
  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(50) size?: string;
  @Field(() => AddressInput, { nullable: true }) @IsOptional() @ValidateNested() address?: AddressInput;
}

@InputType({ description: 'Either an existing account, or a new one' })
export class ConvertLeadAccountInput {
  @Field(() => ID, { nullable: true }) @IsOptional() @IsNotEmpty() existingAccountId?: string;
  @Field(() => NewAccountInput, { nullable: true }) @IsOptional() @ValidateNested() new?: NewAccountInput;
}

@InputType()
export class ConvertLeadOpportunityInput {
  @Field(() => String, { nullable: true }) @IsOptional() @IsNotEmpty() @MaxLength(200) name?: string;
  @Field(() => MoneyInput, { nullable: true }) @IsOptional() @ValidateNested() amount?: MoneyInput;

  @Field(() => String, { nullable: true, description: 'YYYY-MM-DD' })
  @IsOptional()
  @Matches(/^\d{4}-\d{2}-\d{2}$/, { message: 'expectedCloseDate must be a date such as 2027-03-31' })
  expectedCloseDate?: string;

  @Field(() => String, { nullable: true, description: 'A pipeline stage code; the first stage by default' })
  @IsOptional()
  stage?: string;
}

@InputType()
export class ConvertLeadInput {
  @Field(() => ID) @IsNotEmpty() leadId!: string;

  @Field(() => ConvertLeadAccountInput, {
    nullable: true,
    description: "Omitted: a new COMPANY account from the lead's company data",
  })
  @IsOptional()
  @ValidateNested()
  account?: ConvertLeadAccountInput;

  @Field(() => ID, { nullable: true, description: 'Reuse this contact instead of creating one from the lead' })
  @IsOptional()
  @IsNotEmpty()
  existingContactId?: string;

  @Field(() => ConvertLeadOpportunityInput, { nullable: true })
  @IsOptional()
  @ValidateNested()
  opportunity?: ConvertLeadOpportunityInput;

  @Field(() => Boolean, { nullable: true, description: 'false: convert without opening an opportunity' })
  @IsOptional()
  @IsBoolean()
  createOpportunity?: boolean;

  @Field(() => Boolean, { nullable: true, description: 'Create even when likely duplicates exist' })
  @IsOptional()
  @IsBoolean()
  allowDuplicate?: boolean;

  @Field(() => Int, { nullable: true }) @IsOptional() @IsInt() @Min(0) expectedRevision?: number;
  @Field(() => String, { nullable: true }) @IsOptional() @Length(1, 200) idempotencyKey?: string;

  @Field(() => DateTimeScalar, { nullable: true, description: OCCURRED_AT_DESCRIPTION })
  @IsOptional()
  occurredAt?: Date;
}

@ObjectType()
export class ConvertLeadPayload {
  @Field(() => Lead) lead!: Lead;
  @Field(() => Account) account!: Account;
  @Field(() => Contact) contact!: Contact;
  @Field(() => Opportunity, { nullable: true, description: 'Null when the conversion opened none' })
  opportunity?: OpportunityFields;
}

@Authorized()
@Resolver()
export class ConversionResolver {
  @Mutation(() => ConvertLeadPayload, {
    description: 'Unpacks a sales-qualified lead into an account, a contact and (unless declined) an opportunity',
  })
  async convertLead(
    @Arg('input', () => ConvertLeadInput) input: ConvertLeadInput,
    @Ctx() context: GraphQLContext,
  ): Promise<ConvertLeadPayload> {
    const { idempotencyKey, expectedRevision, occurredAt, ...rest } = plainInput(input);
    const request: ConversionRequest = rest;
    refuseContradictions(request);
    const { app } = context;
    const result = await convertLead(
      app,
      request,
      commandContextFor(context, 'ConvertLead', { ...rest, idempotencyKey, expectedRevision, occurredAt }),
      { expectedRevision, authorize: ownedByCaller(context, 'lead') },
    );
    await app.readModels.waitForPosition(result.position, undefined, {
      readModels: ['leads', 'accounts', 'contacts', 'opportunities'],
    });

    // Each entity as the conversion left it, even if others wrote since (or this is a replay).
    const { lead, account, contact, opportunity } = await convertedViews(app, result);
    return {
      lead: toLead(lead, context),
      account: toAccount(account),
      contact: toContact(contact),
      opportunity: opportunity && { ...toOpportunity(opportunity, context), snapshot: opportunity.snapshot },
    };
  }
}

const refuseContradictions = (request: ConversionRequest): void => {
  const problems: { field: string; message: string }[] = [];
  if (request.account?.existingAccountId && request.account.new) {
    problems.push({ field: 'account', message: 'give either existingAccountId or new, not both' });
  }
  if (request.account && !request.account.existingAccountId && !request.account.new) {
    problems.push({ field: 'account', message: 'give existingAccountId or new (or leave account out)' });
  }
  if (request.createOpportunity === false && request.opportunity) {
    problems.push({ field: 'opportunity', message: 'cannot describe an opportunity while createOpportunity is false' });
  }
  if (problems.length > 0) throw new ValidationError(problems);
};

/** Lets a converted lead point to what it became, in one query. */
@Authorized()
@Resolver(() => LeadConversion)
export class LeadConversionResolver {
  @FieldResolver(() => Account, { nullable: true })
  async account(@Root() conversion: LeadConversion, @Ctx() context: GraphQLContext): Promise<Account | undefined> {
    const view = await getAccount(context.app.readDb, conversion.accountId);
    return view && toAccount(view);
  }

  @FieldResolver(() => Contact, { nullable: true })
  async contact(@Root() conversion: LeadConversion, @Ctx() context: GraphQLContext): Promise<Contact | undefined> {
    const view = await getContact(context.app.readDb, conversion.contactId);
    return view && toContact(view);
  }

  @FieldResolver(() => Opportunity, { nullable: true })
  async opportunity(
    @Root() conversion: LeadConversion,
    @Ctx() context: GraphQLContext,
  ): Promise<OpportunityFields | undefined> {
    if (!conversion.opportunityId) return undefined;
    const view = await getOpportunity(context.app.readDb, conversion.opportunityId);
    return view && toOpportunity(view, context);
  }
}
