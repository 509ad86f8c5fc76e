/** The contact's GraphQL shapes: what clients send (inputs, validated) and what they read. */
import { IsEmail, IsNotEmpty, IsOptional, Length, MaxLength, ValidateNested } from 'class-validator';
import 'reflect-metadata';
import { Field, ID, InputType, Int, ObjectType } from 'type-graphql';
import type { ContactLeadCycleView } from '../../../projections/contacts/contactsReadModel';
import type { ContactView } from '../../../projections/contacts/contactView';
import type { LeadStatus } from '../../domain/leads/lead';
import {
  type Connection,
  connectionOf,
  LONG,
  MutationInput,
  payloadOf,
  PERSONAL_DATA_ERASED_DESCRIPTION,
  RevisedMutationInput,
  SHORT,
} from '../shared/common';
import { DateTimeScalar } from '../shared/scalars';
import type { TimeWindow } from '../../useCases/asOf';
import { Address, AddressInput, LeadStatusEnum, PERSON_ADDRESS_DESCRIPTION } from './leads';


// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

@InputType({ description: 'Fields every input about an existing contact shares (never used on its own)' })
abstract class ExistingContactInput extends RevisedMutationInput {
  @Field(() => ID) @IsNotEmpty() contactId!: string;
}

@InputType()
export class CreateContactInput extends MutationInput {
  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(SHORT) firstName?: string;

  @Field(() => String)
  @IsNotEmpty({ message: 'lastName must not be empty' })
  @MaxLength(SHORT)
  lastName!: string;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @IsEmail({}, { message: 'email must be an e-mail address' })
  email?: string;

  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(50) phone?: string;
  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(SHORT) jobTitle?: string;

  @Field(() => AddressInput, { nullable: true, description: PERSON_ADDRESS_DESCRIPTION })
  @IsOptional()
  @ValidateNested()
  address?: AddressInput;

  @Field(() => ID, { nullable: true, description: 'The account the contact belongs to, if any' })
  @IsOptional()
  @Length(1, SHORT)
  accountId?: string;

  @Field(() => ID, { nullable: true }) @IsOptional() @Length(1, SHORT) ownerId?: string;
}

@InputType({ description: 'Absent fields stay as they are' })
export class UpdateContactInput extends ExistingContactInput {
  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(SHORT) firstName?: string;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @IsNotEmpty({ message: 'lastName must not be empty' })
  @MaxLength(SHORT)
  lastName?: string;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @IsEmail({}, { message: 'email must be an e-mail address' })
  email?: string;

  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(50) phone?: string;
  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(SHORT) jobTitle?: string;

  @Field(() => AddressInput, { nullable: true, description: `${PERSON_ADDRESS_DESCRIPTION}. Replaces the whole address` })
  @IsOptional()
  @ValidateNested()
  address?: AddressInput;
}

@InputType()
export class MoveContactInput extends ExistingContactInput {
  @Field(() => ID, { nullable: true, description: 'The account to move to; omit it (or null) to leave every account' })
  @IsOptional()
  @Length(1, SHORT)
  accountId?: string;
}

@InputType()
export class DeactivateContactInput extends ExistingContactInput {
  @Field(() => String, { nullable: true }) @IsOptional() @MaxLength(LONG) reason?: string;
}

@InputType()
export class ReactivateContactInput extends ExistingContactInput {}

@InputType()
export class ContactFilter {
  @Field(() => ID, { nullable: true }) accountId?: string;
  @Field(() => Boolean, { nullable: true }) active?: boolean;

  @Field(() => String, { nullable: true, description: 'Case- and accent-insensitive; name, e-mail or job title' })
  @IsOptional()
  @MaxLength(SHORT)
  search?: string;
}

// ---------------------------------------------------------------------------------------------
// Outputs
// ---------------------------------------------------------------------------------------------

@ObjectType({ description: 'A lead cycle of this contact: one it came from or joined by conversion, or one opened for it' })
export class ContactLeadCycle {
  @Field(() => ID) leadId!: string;
  @Field(() => Int) cycle!: number;
  @Field(() => Boolean, {
    description: 'True when the cycle was opened for this contact (engageContact: a later campaign re-engaged them)',
  })
  engaged!: boolean;
  @Field(() => LeadStatusEnum, {
    nullable: true,
    description: "The lead's status in that cycle: its outcome once closed (CONVERTED or DISQUALIFIED)",
  })
  status?: LeadStatus;
  @Field(() => DateTimeScalar) linkedAt!: Date;
}

@ObjectType()
export class Contact {
  @Field(() => ID) id!: string;
  @Field(() => Int, { description: 'Revision of the contact stream: send it back as expectedRevision' })
  revision!: number;
  @Field(() => String, { nullable: true }) firstName?: string;
  @Field(() => String, { nullable: true, description: 'Null only once the personal data was erased' }) lastName?: string;
  @Field(() => String, { nullable: true }) email?: string;
  @Field(() => String, { nullable: true }) phone?: string;
  @Field(() => String, { nullable: true }) jobTitle?: string;
  @Field(() => Address, { nullable: true, description: PERSON_ADDRESS_DESCRIPTION }) address?: Address;
  @Field(() => ID, { nullable: true }) accountId?: string;
  @Field(() => ID, { nullable: true }) ownerId?: string;
  @Field(() => Boolean) active!: boolean;
  @Field(() => String, { nullable: true }) deactivationReason?: string;
  @Field(() => ID, { nullable: true, description: 'The lead whose conversion created this contact' }) fromLeadId?: string;
  @Field(() => DateTimeScalar) createdAt!: Date;
  @Field(() => String) createdBy!: string;
  @Field(() => DateTimeScalar) updatedAt!: Date;
  @Field(() => Boolean, { description: PERSONAL_DATA_ERASED_DESCRIPTION })
  personalDataErased!: boolean;
}

/** A contact as a resolver hands it on: answered as of a past time, it carries that window to its account. */
export type ContactFields = Contact & { window?: TimeWindow };

export const ContactConnection = connectionOf('Contact', Contact);
export type ContactConnection = Connection<Contact>;

const payload = (name: string) => payloadOf(name, 'contact', Contact);

export const CreateContactPayload = payload('CreateContactPayload');
export const UpdateContactPayload = payload('UpdateContactPayload');
export const MoveContactPayload = payload('MoveContactPayload');
export const DeactivateContactPayload = payload('DeactivateContactPayload');
export const ReactivateContactPayload = payload('ReactivateContactPayload');

export const toContact = (view: ContactView): Contact => ({
  id: view.id,
  revision: view.revision,
  firstName: view.firstName ?? undefined,
  lastName: view.lastName ?? undefined,
  email: view.email ?? undefined,
  phone: view.phone ?? undefined,
  jobTitle: view.jobTitle ?? undefined,
  address: view.address ?? undefined,
  accountId: view.accountId ?? undefined,
  ownerId: view.ownerId ?? undefined,
  active: view.active,
  deactivationReason: view.deactivationReason ?? undefined,
  fromLeadId: view.fromLeadId ?? undefined,
  createdAt: new Date(view.createdAt),
  createdBy: view.createdBy,
  updatedAt: new Date(view.updatedAt),
  personalDataErased: view.personalDataErased,
});

export const toContactLeadCycle = (view: ContactLeadCycleView): ContactLeadCycle => ({
  leadId: view.leadId,
  cycle: view.cycle,
  engaged: view.engaged,
  status: view.status ?? undefined,
  linkedAt: new Date(view.linkedAt),
});
