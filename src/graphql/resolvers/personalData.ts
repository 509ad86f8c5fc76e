/**
 * Personal data over GraphQL (GDPR arts. 15 and 17): `personalData` reports everything held
 * about a person, value by value, from the events themselves; `erasePersonalData` erases it by
 * recording one `PersonalDataErased` event, whose keys the key shredder destroys as it follows
 * the log, and answers once the read models have taken it in, so the next query shows nothing.
 */
import { Arg, Authorized, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import { plainInput } from '../../core/json';
import type { PersonalDataErased } from '../../domain/personalData';
import type { PersonalDataReport as Report } from '../../useCases/personalData/accessReport';
import { personalDataReport } from '../../useCases/personalData/accessReport';
import { erasePersonalData, type ErasureResult } from '../../useCases/personalData/erasure';
import type { GraphQLContext } from '../shared/context';
import { commandContextFor } from '../shared/runCommand';
import {
  ErasePersonalDataInput,
  PersonalDataErasure,
  PersonalDataErasureRecord,
  PersonalDataReport,
} from '../types/personalData';

@Authorized()
@Resolver()
export class PersonalDataResolver {
  @Mutation(() => PersonalDataErasure, {
    description:
      "Erases a person's personal data: their names, e-mail, phone, job title and the free text written about " +
      'them (notes, activity subjects...), in every lead cycle, contact and opportunity of theirs, by destroying the ' +
      'keys it is sealed under. No event is changed or removed: they read with those fields null and ' +
      '`erasedPersonalData` naming them, and leads, contacts and opportunities show `personalDataErased`. KPIs and ' +
      'the pipeline are unchanged; audit traces keep every event. Answers once the read models include the erasure. ' +
      'Asking again, under any id of the person, records nothing (`alreadyErased`). Later writes of personal ' +
      'data about the person are refused (PERSONAL_DATA_ERASED). NOT_FOUND when the id is neither a lead nor a contact.',
  })
  async erasePersonalData(
    @Arg('input', () => ErasePersonalDataInput) input: ErasePersonalDataInput,
    @Ctx() context: GraphQLContext,
  ): Promise<PersonalDataErasure> {
    const { subjectId, reason, idempotencyKey } = plainInput(input);
    const sent = { subjectId, reason, idempotencyKey };
    const { store, personalData, readModels } = context.app;
    const result = await erasePersonalData(
      { store, sealedStore: personalData.sealedStore },
      { subjectId, reason, origin: 'REQUEST' },
      commandContextFor(context, 'ErasePersonalData', sent),
    );
    // The read models that hold copies drop them as they apply the erasure (and the key shredder
    // destroys the keys): once they are past it, no query shows the data. A stopped one that
    // handles it makes this READ_MODEL_STOPPED (the erasure is recorded).
    if (result.position !== undefined) await readModels.waitForPosition(result.position);
    // On SQLite, no page written before the erasure stays in the WAL.
    await personalData.afterErasure();
    return toErasure(result);
  }

  @Query(() => PersonalDataReport, {
    description:
      'Everything held about a person (an access request): their leads, contacts and opportunities, every ' +
      'personal value in their events with the event, its times and who recorded it (erased values null), and ' +
      'the erasures recorded. Read from the events, which every read model copies. NOT_FOUND when the id is ' +
      'neither a lead nor a contact.',
  })
  async personalData(
    @Arg('subjectId', () => ID) subjectId: string,
    @Ctx() context: GraphQLContext,
  ): Promise<PersonalDataReport> {
    const { store, readDb, personalData } = context.app;
    return toReport(await personalDataReport({ store, sealedStore: personalData.sealedStore, readDb }, subjectId));
  }
}

const toErasureRecord = (
  erasure: PersonalDataErased['data'],
  erasedAt: string,
  erasedBy: string,
): PersonalDataErasureRecord => ({
  subjectId: erasure.subjectId,
  reason: erasure.reason,
  origin: erasure.origin,
  erasedAt: new Date(erasedAt),
  erasedBy,
  leadIds: [...erasure.leadIds],
  contactIds: [...erasure.contactIds],
  keyCount: erasure.keyIds.length,
});

const toErasure = (result: ErasureResult): PersonalDataErasure => ({
  ...toErasureRecord(result.erasure, result.erasedAt, result.erasedBy),
  alreadyErased: result.alreadyErased,
  unsealedEvents: result.unsealedEvents,
});

const toReport = (report: Report): PersonalDataReport => ({
  subjectId: report.subjectId,
  leadIds: report.leadIds,
  contactIds: report.contactIds,
  opportunityIds: report.opportunityIds,
  erasures: report.erasures.map(({ erasure, erasedAt, erasedBy }) => toErasureRecord(erasure, erasedAt, erasedBy)),
  values: report.values.map((value) => ({
    ...value,
    value: value.value ?? undefined,
    recordedAt: new Date(value.recordedAt),
    occurredAt: new Date(value.occurredAt),
  })),
});
