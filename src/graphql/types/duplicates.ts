/** A record that may be the same person as a lead: the shape `Lead.possibleDuplicates` and the import answer. */
import 'reflect-metadata';
import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import type { DuplicateKind, DuplicateMatch } from '../../../projections/leads/duplicateQueries';
import { enumOf } from '../shared/common';

export const DuplicateKindEnum = enumOf(['LEAD', 'CONTACT'] as const satisfies readonly DuplicateKind[]);
export const DuplicateMatchEnum = enumOf(['EMAIL', 'NAME_AND_COMPANY'] as const satisfies readonly DuplicateMatch[]);
registerEnumType(DuplicateKindEnum, { name: 'DuplicateKind', description: 'LEAD: an open lead. CONTACT: a contact, active or not' });
registerEnumType(DuplicateMatchEnum, {
  name: 'DuplicateMatch',
  description: "EMAIL: the same address. NAME_AND_COMPANY: the same person's name at the same company (case, accents and legal forms ignored)",
});

@ObjectType()
export class DuplicateCandidate {
  @Field(() => DuplicateKindEnum) kind!: DuplicateKind;
  @Field(() => ID, { description: "The lead's or the contact's id" }) id!: string;
  @Field(() => DuplicateMatchEnum) matchedOn!: DuplicateMatch;
}
