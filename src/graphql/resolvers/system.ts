/** Queries that belong to no single slice: the caller, the event history of any stream, the catalogs. */
import { Arg, Authorized, Ctx, ID, Query, Resolver } from 'type-graphql';
import { NotFoundError } from '../../core/errors';
import { StreamNotFoundError } from '../../core/eventStore';
import { Reason, RecordedEventType, toRecordedEventType } from '../shared/common';
import type { GraphQLContext } from '../shared/context';
import { knownRoles, mayRun, OPERATION_ROLES } from '../shared/roles';
import { Me } from '../types/identity';

@Authorized()
@Resolver()
export class SystemResolver {
  @Query(() => [RecordedEventType], { description: 'Every event of a stream, oldest first, with its metadata' })
  async history(@Arg('streamId', () => ID) streamId: string, @Ctx() context: GraphQLContext) {
    try {
      return (await context.app.store.readStream(streamId)).map(toRecordedEventType);
    } catch (error) {
      if (error instanceof StreamNotFoundError) throw new NotFoundError('Stream', streamId);
      throw error;
    }
  }

  @Query(() => Me, { description: 'Who the token says the caller is, and which operations it may run' })
  me(@Ctx() context: GraphQLContext): Me {
    const identity = context.identity!;
    return {
      sub: identity.actor,
      roles: knownRoles(identity),
      operations: Object.keys(OPERATION_ROLES)
        .filter((operation) => mayRun(identity, operation))
        .sort(),
    };
  }

  @Query(() => [Reason])
  disqualificationReasons(@Ctx() context: GraphQLContext): Reason[] {
    return [...context.app.catalogs.disqualificationReasons.reasons];
  }

  @Query(() => [Reason])
  lossReasons(@Ctx() context: GraphQLContext): Reason[] {
    return [...context.app.catalogs.lossReasons.reasons];
  }
}
