/** The caller as the API sees it: what `me` answers. */
import { Field, ObjectType } from 'type-graphql';

@ObjectType({ description: 'The caller: its token subject, the roles the API knows, and what it may run' })
export class Me {
  @Field(() => String, { description: "The token's subject: the actor recorded on every event this caller causes" })
  sub!: string;

  @Field(() => [String], { description: "The token's roles that the API knows (unknown roles grant nothing)" })
  roles!: string[];

  @Field(() => [String], {
    description: 'Every query and mutation these roles may run, so a client can hide what it cannot do. ' +
      'Ownership still applies: a sales user changes only what it owns or what has no owner.',
  })
  operations!: string[];
}
