/** Queries that belong to no single slice: the event history of any stream and the catalogs. */
import { Arg, Authorized, Ctx, ID, Query, Resolver } from 'type-graphql';
import { NotFoundError } from '../../core/errors';
import { StreamNotFoundError } from '../../core/eventStore';
import { Reason, RecordedEventType, toRecordedEventType } from '../shared/common';
import type { GraphQLContext } from '../shared/context';

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

  @Query(() => [Reason])
  disqualificationReasons(@Ctx() context: GraphQLContext): Reason[] {
    return [...context.app.catalogs.disqualificationReasons.reasons];
  }

  @Query(() => [Reason])
  lossReasons(@Ctx() context: GraphQLContext): Reason[] {
    return [...context.app.catalogs.lossReasons.reasons];
  }
}
