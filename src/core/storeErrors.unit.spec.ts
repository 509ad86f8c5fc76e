import { expect, it } from 'vitest';
import { isInfrastructureError, isStoreUnavailable } from './storeErrors';

const withCode = (message: string, fields: Record<string, unknown>) => Object.assign(new Error(message), fields);

it('tells a database busy or unreachable for a moment from one that needs an operator, or from bad data', () => {
  const passing = [
    withCode('database is locked', { code: 'SQLITE_BUSY' }),
    withCode('database table is locked', { code: 'SQLITE_LOCKED_SHAREDCACHE' }),
    withCode('terminating connection due to administrator command', { code: '57P01' }),
    withCode('the database system is starting up', { code: '57P03' }),
    withCode('sorry, too many clients already', { code: '53300' }),
    withCode('deadlock detected', { code: '40P01' }),
    withCode('could not serialize access due to concurrent update', { code: '40001' }),
    withCode('connection failure', { code: '08006' }),
    withCode('connect ECONNREFUSED 127.0.0.1:5432', { code: 'ECONNREFUSED' }),
    new Error('Connection terminated unexpectedly'),
    new Error('timeout exceeded when trying to connect'),
    withCode('No leader', { type: 'not-leader' }),
    withCode('14 UNAVAILABLE: No connection established', { type: 'unavailable' }),
  ];
  const lasting = [
    withCode('database or disk is full', { code: 'SQLITE_FULL' }),
    withCode('database disk image is malformed', { code: 'SQLITE_CORRUPT' }),
    withCode('disk I/O error', { code: 'SQLITE_IOERR_WRITE' }),
    withCode('duplicate key value violates unique constraint', { code: '23505' }),
    withCode('database "crm" does not exist', { code: '3D000' }),
    withCode('password authentication failed', { code: '28P01' }),
    withCode('Stream not found', { type: 'stream-not-found' }),
    // Wrapping one (the projection runner stopped after it) is another matter: the causes are not read.
    new Error('The projection runner stopped after an error: database is locked', { cause: withCode('database is locked', { code: 'SQLITE_BUSY' }) }),
    'SQLITE_BUSY',
    undefined,
  ];
  expect(passing.filter((error) => !isStoreUnavailable(error)).map((error) => error.message)).toEqual([]);
  expect(lasting.filter((error) => isStoreUnavailable(error))).toEqual([]);
  // All of them are the database's own trouble, which the projection runner blames on no projection.
  const ofReadDatabases = passing.filter((error) => !('type' in error));
  expect(ofReadDatabases.filter((error) => !isInfrastructureError(error)).map((error) => error.message)).toEqual([]);
});
