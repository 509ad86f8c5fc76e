import { createHash, randomUUID } from 'node:crypto';
import { v5 as uuidv5 } from 'uuid';

/** Fixed namespace for every id this service derives; changing it would change every derived id. */
const CRM_NAMESPACE = '5b4f3d1e-6a0c-4c39-9f0e-2f3b7b8f6a11';

/** A UUID that depends only on its parts: the same command retried yields the same ids. */
export const deterministicId = (...parts: Array<string | number>): string =>
  uuidv5(parts.map(String).join('\u001f'), CRM_NAMESPACE);

export const newId = (): string => randomUUID();

/** A stable digest of a JSON-like value, independent of key order. */
export const digest = (value: unknown): string =>
  createHash('sha256').update(canonicalJson(value)).digest('base64url');

const canonicalJson = (value: unknown): string => {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
};
