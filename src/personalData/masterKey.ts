/**
 * The master key (CRM_DATA_KEY) that wraps every person's data key. Losing it loses every
 * person's data; leaking it together with the key table undoes nothing that was erased (erased
 * keys are gone) but exposes everyone else. In development a key is created on first start in
 * the data directory, as the JWT secret is; in production the server refuses to start without one.
 */
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { KEY_BYTES, newDataKey } from './cipher';

export const DATA_KEY_FILE = 'data-key';

export interface ResolvedMasterKey {
  key: Buffer;
  /** env: CRM_DATA_KEY; file: the development file; generated: the development file, just made. */
  source: 'env' | 'file' | 'generated';
}

/** 64 hexadecimal characters, or 32 bytes in base64 (what `openssl rand -hex 32` or `-base64 32` print). */
export const parseMasterKey = (text: string, origin: string): Buffer => {
  const value = text.trim();
  const bytes = /^[0-9a-fA-F]{64}$/.test(value)
    ? Buffer.from(value, 'hex')
    : /^[A-Za-z0-9+/_-]{43}=?$/.test(value)
      ? Buffer.from(value, value.includes('-') || value.includes('_') ? 'base64url' : 'base64')
      : undefined;
  if (bytes?.length !== KEY_BYTES) {
    throw new Error(
      `${origin} must be ${KEY_BYTES} random bytes as 64 hex characters or base64 (generate one with: openssl rand -hex 32)`,
    );
  }
  return bytes;
};

export const resolveMasterKey = ({
  env,
  dataDir,
  production,
}: {
  env: NodeJS.ProcessEnv;
  dataDir: string;
  production: boolean;
}): ResolvedMasterKey => {
  if (env.CRM_DATA_KEY) return { key: parseMasterKey(env.CRM_DATA_KEY, 'CRM_DATA_KEY'), source: 'env' };
  if (production) {
    throw new Error(
      'is not set, refused with NODE_ENV=production: it wraps the keys of every person\'s data; ' +
        'set one (openssl rand -hex 32) and keep it apart from the database backups',
    );
  }
  const file = path.join(dataDir, DATA_KEY_FILE);
  const existing = readIfExists(file);
  if (existing !== undefined) return { key: parseMasterKey(existing, file), source: 'file' };

  mkdirSync(dataDir, { recursive: true });
  // Written aside then hard-linked into place, as the JWT secret: two first starts agree on one key.
  const fresh = newDataKey();
  const scratch = `${file}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(scratch, `${fresh.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(scratch, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return { key: parseMasterKey(readFileSync(file, 'utf8'), file), source: 'file' };
  } finally {
    unlinkSync(scratch);
  }
  return { key: fresh, source: 'generated' };
};

const readIfExists = (file: string): string | undefined => {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
};
