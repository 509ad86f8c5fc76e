/**
 * Destroys the keys a `PersonalDataErased` event names, in the same transaction as the read
 * models' checkpoint: after a crash, a restart, or a key table restored from an older backup,
 * following the log destroys them again. It is not a read model: a rebuild never drops the keys.
 */
import type { Projection } from '../../projections/projection';
import type { PersonalDataErased } from '../domain/personalData';
import { createTables, destroyKeys } from './keyStore';

export const keyShredder: Projection = {
  name: 'personal-data-keys',
  version: 1,
  canHandle: ['PersonalDataErased'],
  setup: createTables,
  // The keys are not derived from the log: nothing to drop.
  reset: async () => undefined,
  async apply(tx, event) {
    const { keyIds } = event.data as PersonalDataErased['data'];
    await destroyKeys(tx, keyIds, event.metadata.recordedAt);
  },
};
