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

export const wrapKey = (masterKey: Buffer, keyId: string, dataKey: Buffer): Buffer =>
  seal(masterKey, dataKey, `crm-data-key:${keyId}`);

export const unwrapKey = (masterKey: Buffer, keyId: string, wrapped: Buffer): Buffer =>
  open(masterKey, wrapped, `crm-data-key:${keyId}`);

/**
 * A short, public fingerprint of the master key, stored beside the keys it wrapped: a server
 * started with another CRM_DATA_KEY is refused at once instead of failing on every read.
 */
export const masterKeyFingerprint = (masterKey: Buffer): string =>
  createHmac('sha256', masterKey).update('crm-data-key-fingerprint').digest('base64url').slice(0, 16);
