import { digest } from './ids';

/** Events are stored as JSON: absent and undefined must not differ between live and replay. */
export const withoutUndefined = <T extends object>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** Equal as stored: key order and undefined members do not count. */
export const sameValue = (a: unknown, b: unknown): boolean =>
  digest(withoutUndefined({ v: a })) === digest(withoutUndefined({ v: b }));

/** GraphQL hands resolvers class instances with null for absent fields; commands hold plain JSON. */
export const plainInput = <T>(value: T): T =>
  JSON.parse(JSON.stringify(value, (_key, v: unknown) => (v === null ? undefined : v))) as T;
