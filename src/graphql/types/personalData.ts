/**
 * Personal data over GraphQL: erasing a person (crypto-shredding: their keys are destroyed, the
 * events stay) and the access report of everything held about them, each value with its source.
 */
import { IsNotEmpty, Length } from 'class-validator';
import 'reflect-metadata';
import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { ERASURE_ORIGINS, type ErasureOrigin } from '../../domain/personalData';
import { enumOf, LONG, MutationInput, SHORT } from '../shared/common';
import { DateTimeScalar, JSONScalar } from '../shared/scalars';

export const ErasureOriginEnum = enumOf(ERASURE_ORIGINS);
registerEnumType(ErasureOriginEnum, {
  name: 'ErasureOrigin',
  description: 'Why an erasure happened: REQUEST, someone asked for it (erasePersonalData); RETENTION, the retention policy',
});

@InputType()
export class ErasePersonalDataInput extends MutationInput {
  @Field(() => ID, {
    description:
      'A lead or contact id: the person behind it is erased, with every lead cycle and contact of theirs ' +
      '(the lead and the contact it became are one person)',
  })
  @IsNotEmpty()
  @Length(1, SHORT)
  subjectId!: string;

  @Field(() => String, { description: 'Why the data is erased: the request, the law, the policy (recorded; no personal data)' })
  @Length(1, LONG)
  reason!: string;
}

@ObjectType({
  description:
    "A person's personal data erased: the keys it was sealed under are destroyed, so every event keeps its " +
    'place and its other fields, and its personal fields read null',
})
export class PersonalDataErasure {
  @Field(() => ID, {
    description: 'The lead or contact id the erasure was recorded for (with alreadyErased, the earlier request\'s)',
  })
  subjectId!: string;

  @Field(() => [ID], { description: "The person's leads whose personal data is erased" })
  leadIds!: string[];

  @Field(() => [ID], { description: "The person's contacts whose personal data is erased" })
  contactIds!: string[];

  @Field(() => Int, { description: 'How many keys the erasure destroys' })
  keyCount!: number;

  @Field(() => String)
  reason!: string;

  @Field(() => ErasureOriginEnum)
  origin!: ErasureOrigin;

  @Field(() => DateTimeScalar, { description: 'When the erasure was recorded' })
  erasedAt!: Date;

  @Field(() => String, { description: 'Who recorded it (the token subject)' })
  erasedBy!: string;

  @Field(() => Boolean, {
    description:
      'True when an earlier erasure, asked for under any id of the same person, already covered everything: ' +
      'nothing new was recorded, and the other fields describe that erasure',
  })
  alreadyErased!: boolean;

  @Field(() => Int, {
    description:
      "The person's events written before personal data was encrypted: their personal fields are still in " +
      'clear in the log, out of reach of this erasure. `npm run migrate-events` (copying the log to a new store) ' +
      'seals them, after which an erasure covers them too; 0 on a log written with encryption',
  })
  unsealedEvents!: number;
}

@ObjectType({ description: 'An erasure recorded about the person' })
export class PersonalDataErasureRecord {
  @Field(() => ID, { description: 'The lead or contact id it was asked for' })
  subjectId!: string;

  @Field(() => String)
  reason!: string;

  @Field(() => ErasureOriginEnum)
  origin!: ErasureOrigin;

  @Field(() => DateTimeScalar)
  erasedAt!: Date;

  @Field(() => String)
  erasedBy!: string;

  @Field(() => [ID])
  leadIds!: string[];

  @Field(() => [ID])
  contactIds!: string[];

  @Field(() => Int, { description: 'How many keys it destroyed' })
  keyCount!: number;
}

@ObjectType({ description: 'One personal value held in one event, with where it came from' })
export class PersonalDataValue {
  @Field(() => ID)
  streamId!: string;

  @Field(() => ID)
  eventId!: string;

  @Field(() => String)
  eventType!: string;

  @Field(() => Int, { description: "The event's revision in its stream" })
  revision!: number;

  @Field(() => String, { description: "The field's path in the event's data: person, notes, newContact.email..." })
  field!: string;

  @Field(() => JSONScalar, { nullable: true, description: 'The value as recorded (a string, or an object such as a person); null once erased' })
  value?: unknown;

  @Field(() => Boolean, { description: 'The value was erased: it can no longer be read by anyone' })
  erased!: boolean;

  @Field(() => Boolean, {
    description: 'False for an event written before encryption: its value is in clear in the log, and erasure cannot reach it',
  })
  sealed!: boolean;

  @Field(() => DateTimeScalar)
  recordedAt!: Date;

  @Field(() => DateTimeScalar)
  occurredAt!: Date;

  @Field(() => String, { description: 'Who recorded the event (the token subject)' })
  actor!: string;
}

@ObjectType({
  description:
    'Everything the system holds about a person (an access request): their leads, contacts and opportunities, ' +
    'every personal value in their events with its source, and the erasures recorded',
})
export class PersonalDataReport {
  @Field(() => ID, { description: 'The lead or contact id asked about' })
  subjectId!: string;

  @Field(() => [ID], { description: 'Every lead of the person (each lead the contact came from, or the lead asked about)' })
  leadIds!: string[];

  @Field(() => [ID], { description: 'Every contact of the person' })
  contactIds!: string[];

  @Field(() => [ID], { description: 'Opportunities opened from those leads or with those contacts' })
  opportunityIds!: string[];

  @Field(() => [PersonalDataErasureRecord], { description: 'Oldest first' })
  erasures!: PersonalDataErasureRecord[];

  @Field(() => [PersonalDataValue], {
    description: "Every personal value in the person's events (and in the opportunities' events sealed under their keys), in stream order",
  })
  values!: PersonalDataValue[];
}
