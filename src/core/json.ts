import { digest } from './ids';

/**
 * Events are stored as JSON: absent and undefined must not differ between live and replay. The
 * value as JSON would give it back (`JSON.parse(JSON.stringify(value))`), copied directly when it
 * is plain data (objects, arrays, strings, finite numbers, booleans, null, undefined members):
 * every decider hands its events' data through here, and the round trip through a string cost
 * three times the copy. Anything else (a Date, a class, a hole, a function, `__proto__` as a key,
 * a non-finite number, an undefined in an array, a cycle) takes the round trip itself.
 */
export const withoutUndefined = <T extends object>(value: T): T => {
  const copy = plainCopy(value, 0);
  return (copy === NOT_PLAIN ? JSON.parse(JSON.stringify(value)) : copy) as T;
};

const NOT_PLAIN = Symbol('not plain JSON data');
/** Deeper than any event: past it a value is left to JSON, which reports a cycle its own way. */
const MAX_DEPTH = 64;

const plainCopy = (value: unknown, depth: number): unknown => {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      // JSON writes -0 as 0.
      return Number.isFinite(value) ? value + 0 : NOT_PLAIN;
    case 'object': {
      if (value === null) return null;
      if (depth === MAX_DEPTH) return NOT_PLAIN;
      if (Array.isArray(value)) {
        const copy = new Array<unknown>(value.length);
        for (let index = 0; index < value.length; index++) {
          const item = plainCopy(value[index], depth + 1);
          if (item === NOT_PLAIN || item === undefined) return NOT_PLAIN;
          copy[index] = item;
        }
        return copy;
      }
      if (Object.getPrototypeOf(value) !== Object.prototype) return NOT_PLAIN;
      const copy: Record<string, unknown> = {};
      for (const key of Object.keys(value)) {
        const member = plainCopy((value as Record<string, unknown>)[key], depth + 1);
        if (member === undefined) continue;
        if (member === NOT_PLAIN || key === '__proto__') return NOT_PLAIN;
        copy[key] = member;
      }
      return copy;
    }
    case 'undefined':
      return undefined;
    default:
      return NOT_PLAIN;
  }
};

/** Equal as stored: key order and undefined members do not count. */
export const sameValue = (a: unknown, b: unknown): boolean =>
  digest(withoutUndefined({ v: a })) === digest(withoutUndefined({ v: b }));

/** GraphQL hands resolvers class instances with null for absent fields; commands hold plain JSON. */
export const plainInput = <T>(value: T): T =>
  JSON.parse(JSON.stringify(value, (_key, v: unknown) => (v === null ? undefined : v))) as T;
