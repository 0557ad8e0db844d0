import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AppConfig } from './config';

export interface Secrets {
  readonly keyPepper: string;
  /** Where the pepper came from, for logs and preflight (never the value). */
  readonly keyPepperSource: 'env' | 'data_dir_existing' | 'data_dir_generated';
}

/**
 * KEY_PEPPER from the environment, or the one kept in DATA_DIR/key-pepper (created with mode 0600
 * on first start). Every instance of one deployment must use the same pepper.
 */
export function resolveSecrets(config: AppConfig): Secrets {
  if (config.keyPepper) return { keyPepper: config.keyPepper, keyPepperSource: 'env' };
  const file = join(config.dataDir, 'key-pepper');
  if (existsSync(file)) {
    const value = readFileSync(file, 'utf8').trim();
    if (value.length < 32) throw new Error(`${file} holds fewer than 32 characters; remove it or set KEY_PEPPER`);
    return { keyPepper: value, keyPepperSource: 'data_dir_existing' };
  }
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const value = randomBytes(32).toString('base64url');
  writeFileSync(file, `${value}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return { keyPepper: value, keyPepperSource: 'data_dir_generated' };
}

export const SECRETS = Symbol('SECRETS');
