import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AppConfig } from './config';
import { generateSealPrivateKeyPem, parseSealPrivateKey, type SealKey, sealKeyFrom } from './seal-key';

export interface Secrets {
  readonly keyPepper: string;
  /** Where the pepper came from, for logs and preflight (never the value). */
  readonly keyPepperSource: 'env' | 'data_dir_existing' | 'data_dir_generated';
  /** The Ed25519 key that signs global seals (docs/audit-seals.md). */
  readonly sealKey: SealKey;
  readonly sealKeySource: 'env' | 'data_dir_existing' | 'data_dir_generated';
}

/**
 * KEY_PEPPER from the environment, or the one kept in DATA_DIR/key-pepper (created with mode 0600
 * on first start). Every instance of one deployment must use the same pepper. Also the seal key.
 */
export function resolveSecrets(config: AppConfig): Secrets {
  return { ...resolveKeyPepper(config), ...resolveSealKey(config) };
}

function resolveKeyPepper(config: AppConfig): Pick<Secrets, 'keyPepper' | 'keyPepperSource'> {
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

/**
 * AUDIT_SEAL_PRIVATE_KEY from the environment, or the key kept in DATA_DIR/audit-seal-key.pem
 * (created with mode 0600 on first start), exactly like the pepper. Instances sharing a database
 * should share the key (set the variable), or each worker signs with its own and auditors must
 * trust every key id that appears in the seals.
 */
export function resolveSealKey(config: AppConfig): Pick<Secrets, 'sealKey' | 'sealKeySource'> {
  if (config.audit.sealPrivateKeyPem) return { sealKey: sealKeyFrom(parseSealPrivateKey(config.audit.sealPrivateKeyPem)), sealKeySource: 'env' };
  const file = join(config.dataDir, 'audit-seal-key.pem');
  if (existsSync(file)) {
    try {
      return { sealKey: sealKeyFrom(parseSealPrivateKey(readFileSync(file, 'utf8'))), sealKeySource: 'data_dir_existing' };
    } catch (err) {
      throw new Error(`${file} ${err instanceof Error ? err.message : 'is not a usable key'}; replace it or set AUDIT_SEAL_PRIVATE_KEY`);
    }
  }
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const pem = generateSealPrivateKeyPem();
  writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return { sealKey: sealKeyFrom(parseSealPrivateKey(pem)), sealKeySource: 'data_dir_generated' };
}

/**
 * The deployment's signing key for tools that run beside the service (CLIs): from the environment
 * or DATA_DIR, never generated, so a tool can never sign with a key nobody else knows.
 */
export function existingSealKey(config: AppConfig): SealKey {
  if (config.audit.sealPrivateKeyPem) return sealKeyFrom(parseSealPrivateKey(config.audit.sealPrivateKeyPem));
  const file = join(config.dataDir, 'audit-seal-key.pem');
  if (!existsSync(file)) throw new Error(`no signing key: set AUDIT_SEAL_PRIVATE_KEY to the service's key, or run where DATA_DIR holds audit-seal-key.pem (looked in ${file})`);
  return sealKeyFrom(parseSealPrivateKey(readFileSync(file, 'utf8')));
}

export const SECRETS = Symbol('SECRETS');
