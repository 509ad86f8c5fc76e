import { describe, expect, it } from 'vitest';
import { newDataKey, open, seal, unwrapKey, unwrapKeys, wrapKey, wrapKeys } from './cipher';

describe('key wrapping', () => {
  it('wraps many keys in one pass, each unwrapping alone, and reads the single-key format too', () => {
    const master = newDataKey();
    const keys = Array.from({ length: 300 }, () => newDataKey());
    const wrapped = wrapKeys(master, keys);
    expect(new Set(wrapped.map((w) => w.toString('hex'))).size).toBe(300);
    // Any one of them, alone, in any order.
    for (const index of [299, 0, 17, 256, 128]) expect(unwrapKey(master, `k${index}`, wrapped[index]!)).toEqual(keys[index]);
    expect(unwrapKey(master, 'k', wrapKey(master, 'k', keys[0]!))).toEqual(keys[0]);
    // The first format: AES-GCM with the key id as associated data.
    const legacy = seal(master, keys[1]!, 'crm-data-key:kold');
    expect(unwrapKey(master, 'kold', legacy)).toEqual(keys[1]);
    expect(() => unwrapKey(master, 'kother', legacy)).toThrow();
  });

  it('unwraps many keys at once exactly as one by one, from several batches, with the first format among them', () => {
    const master = newDataKey();
    const keys = Array.from({ length: 600 }, () => newDataKey());
    // Batches of 300: a counter crosses a byte boundary within each (2 blocks a key), and the
    // batches' counters are unrelated to each other.
    const wrapped = [...wrapKeys(master, keys.slice(0, 300)), ...wrapKeys(master, keys.slice(300))];
    const legacy = seal(master, keys[5]!, 'crm-data-key:kold');
    const entries = [...wrapped.map((w, index) => ({ keyId: `k${index}`, wrapped: w })).reverse(), { keyId: 'kold', wrapped: legacy }];
    const unwrapped = unwrapKeys(master, entries);
    expect(unwrapped).toEqual(entries.map((entry) => unwrapKey(master, entry.keyId, entry.wrapped)));
    expect(unwrapped.at(0)).toEqual(keys[599]);
    expect(unwrapped.at(-1)).toEqual(keys[5]);
    expect(unwrapKeys(master, [])).toEqual([]);
  });

  it('gives a wrong key under another master key, which opens none of the data it sealed', () => {
    const master = newDataKey();
    const key = newDataKey();
    const sealed = seal(key, Buffer.from('Núria'), 'crm-personal-data:k1:LeadCaptured');
    const [wrapped] = wrapKeys(master, [key]);
    const unwrappedWrongly = unwrapKey(newDataKey(), 'k1', wrapped!);
    expect(unwrappedWrongly).not.toEqual(key);
    expect(() => open(unwrappedWrongly, sealed, 'crm-personal-data:k1:LeadCaptured')).toThrow();
    expect(open(unwrapKey(master, 'k1', wrapped!), sealed, 'crm-personal-data:k1:LeadCaptured').toString()).toBe('Núria');
  });
});
