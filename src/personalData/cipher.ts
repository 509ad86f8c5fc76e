/**
 * Authenticated encryption (AES-256-GCM from node:crypto) for the two jobs of crypto-shredding:
 * sealing a person's fields under their data key, and wrapping each data key under the master
 * key (CRM_DATA_KEY) before it is stored. The associated data binds a ciphertext to where it
 * belongs (its key id and event type; a wrapped key to its id), so a sealed value moved to
 * another event or key does not open.
 *
 * Format of a sealed value: base64url(iv 12 bytes | ciphertext | tag 16 bytes).
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const KEY_BYTES = 32;

/**
 * Fresh random bytes, drawn from the system's CSPRNG 16 KiB at a time: one `randomBytes` call per
 * seal cost a capture more than the encryption itself (measured with --cpu-prof). Each byte is
 * handed out once.
 */
const RANDOM_POOL_BYTES = 16 * 1024;
let randomPool = Buffer.alloc(0);
let randomOffset = 0;
export const freshRandom = (size: number): Buffer => {
  if (randomOffset + size > randomPool.length) {
    randomPool = randomBytes(Math.max(RANDOM_POOL_BYTES, size));
    randomOffset = 0;
  }
  const bytes = Buffer.from(randomPool.subarray(randomOffset, randomOffset + size));
  randomPool.fill(0, randomOffset, randomOffset + size);
  randomOffset += size;
  return bytes;
};

export const newDataKey = (): Buffer => freshRandom(KEY_BYTES);

export const seal = (key: Buffer, plaintext: Buffer, associatedData: string): Buffer => {
  const iv = freshRandom(IV_BYTES);
  const cipher = createCipheriv(ALGORITHM, key, iv);
  cipher.setAAD(Buffer.from(associatedData, 'utf8'));
  const body = cipher.update(plaintext);
  const final = cipher.final();
  return Buffer.concat([iv, body, final, cipher.getAuthTag()]);
};

/** Throws when the key is wrong or the bytes were altered (GCM's tag does not match). */
export const open = (key: Buffer, sealed: Buffer, associatedData: string): Buffer => {
  if (sealed.length < IV_BYTES + TAG_BYTES) throw new Error('sealed value too short');
  const decipher = createDecipheriv(ALGORITHM, key, sealed.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(associatedData, 'utf8'));
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
};

/**
 * Keys made ahead are wrapped many at a time, with one AES-256-CTR pass: each key's 32 bytes are
 * two counter blocks of its own, stored with it (`0x01 | counter block | 32 bytes`), so each
 * unwraps alone and destroying one leaves the others. One cipher call per batch instead of one
 * per key (a capture paid for a whole cipher call of its own when each key was wrapped alone).
 * Not authenticated on its own: a key altered in the table opens nothing, because the data it
 * seals is AES-GCM with the key id as associated data, and fails there.
 */
const WRAPPED_CTR = 0x01;
const CTR_BLOCK_BYTES = 16;

const counterBlock = (iv: Buffer, blocks: number): Buffer => {
  const block = Buffer.from(iv);
  let carry = blocks;
  for (let index = CTR_BLOCK_BYTES - 1; index >= 0 && carry > 0; index--) {
    const sum = block[index]! + (carry & 0xff);
    block[index] = sum & 0xff;
    carry = (carry >>> 8) + (sum >> 8);
  }
  return block;
};

export const wrapKeys = (masterKey: Buffer, dataKeys: readonly Buffer[]): Buffer[] => {
  const iv = freshRandom(CTR_BLOCK_BYTES);
  const cipher = createCipheriv('aes-256-ctr', masterKey, iv);
  const wrapped = Buffer.concat([cipher.update(Buffer.concat(dataKeys)), cipher.final()]);
  const perKey = KEY_BYTES / CTR_BLOCK_BYTES;
  return dataKeys.map((_, index) =>
    Buffer.concat([Buffer.from([WRAPPED_CTR]), counterBlock(iv, index * perKey), wrapped.subarray(index * KEY_BYTES, (index + 1) * KEY_BYTES)]),
  );
};

export const wrapKey = (masterKey: Buffer, _keyId: string, dataKey: Buffer): Buffer => wrapKeys(masterKey, [dataKey])[0]!;

/**
 * Unwraps many keys with one cipher call: AES-CTR's keystream is AES of each counter block, so
 * encrypting every key's two counter blocks in one ECB pass and XOR-ing gives what each key's own
 * CTR decipher would (a rebuild unwraps a key per person; one decipher object each cost more than
 * the unwrapping). Keys of the first format (AES-GCM) unwrap one by one.
 */
export const unwrapKeys = (masterKey: Buffer, entries: readonly { keyId: string; wrapped: Buffer }[]): Buffer[] => {
  const isCtr = (wrapped: Buffer) => wrapped.length === 1 + CTR_BLOCK_BYTES + KEY_BYTES && wrapped[0] === WRAPPED_CTR;
  const ctr = entries.filter((entry) => isCtr(entry.wrapped));
  const perKey = KEY_BYTES / CTR_BLOCK_BYTES;
  const counters = Buffer.allocUnsafe(ctr.length * KEY_BYTES);
  ctr.forEach(({ wrapped }, index) => {
    const iv = wrapped.subarray(1, 1 + CTR_BLOCK_BYTES);
    for (let block = 0; block < perKey; block++) counterBlock(iv, block).copy(counters, index * KEY_BYTES + block * CTR_BLOCK_BYTES);
  });
  const ecb = createCipheriv('aes-256-ecb', masterKey, null).setAutoPadding(false);
  const keystream = Buffer.concat([ecb.update(counters), ecb.final()]);
  let at = 0;
  return entries.map(({ keyId, wrapped }) => {
    if (!isCtr(wrapped)) return unwrapKey(masterKey, keyId, wrapped);
    const key = Buffer.allocUnsafe(KEY_BYTES);
    const offset = at++ * KEY_BYTES;
    for (let index = 0; index < KEY_BYTES; index++) key[index] = wrapped[1 + CTR_BLOCK_BYTES + index]! ^ keystream[offset + index]!;
    return key;
  });
};

export const unwrapKey = (masterKey: Buffer, keyId: string, wrapped: Buffer): Buffer => {
  if (wrapped.length === 1 + CTR_BLOCK_BYTES + KEY_BYTES && wrapped[0] === WRAPPED_CTR) {
    const decipher = createDecipheriv('aes-256-ctr', masterKey, wrapped.subarray(1, 1 + CTR_BLOCK_BYTES));
    return Buffer.concat([decipher.update(wrapped.subarray(1 + CTR_BLOCK_BYTES)), decipher.final()]);
  }
  // A key wrapped alone with AES-256-GCM, its id as associated data (the first format).
  return open(masterKey, wrapped, `crm-data-key:${keyId}`);
};

/**
 * A short, public fingerprint of the master key, stored beside the keys it wrapped: a server
 * started with another CRM_DATA_KEY is refused at once instead of failing on every read.
 */
export const masterKeyFingerprint = (masterKey: Buffer): string =>
  createHmac('sha256', masterKey).update('crm-data-key-fingerprint').digest('base64url').slice(0, 16);
