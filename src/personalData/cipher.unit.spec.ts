import { describe, expect, it } from 'vitest';
import { newDataKey, open, seal, unwrapKey, wrapKey, wrapKeys } from './cipher';

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
