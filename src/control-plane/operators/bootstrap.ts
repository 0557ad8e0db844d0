import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { AppConfig } from '../../platform/config/config';
import type { Secrets } from '../../platform/config/secrets';
import type { Checkpoint, EventStore } from '../../platform/event-store/event-store';
import { handleCommand } from '../shared/command-handling';
import { operatorStreamId } from '../shared/ids';
import { generateOperatorToken, hashToken, tokenHint } from './credentials';
import { operatorDecider } from './operator.domain';

export const BOOTSTRAP_OPERATOR_ID = 'op_bootstrap_owner';

export interface BootstrapResult {
  readonly created: boolean;
  /** Where the generated token was written (absent when ADMIN_BOOTSTRAP_TOKEN supplied it, or nothing was created). */
  readonly tokenFile: string | null;
  readonly tokenFromEnv: boolean;
  readonly position: Checkpoint | null;
}

/**
 * First start: when no bootstrap owner exists, create one. Its token is ADMIN_BOOTSTRAP_TOKEN if
 * set, otherwise a generated one written to DATA_DIR/bootstrap-admin.token (mode 0600). The token
 * is never logged. A fixed stream id makes the creation race-free across instances.
 */
export async function ensureBootstrapOperator(store: EventStore, config: AppConfig, secrets: Secrets, now: () => Date = () => new Date()): Promise<BootstrapResult> {
  const streamId = operatorStreamId(BOOTSTRAP_OPERATOR_ID);
  const existing = await store.readStream(streamId, { limit: 1 });
  if (existing.length > 0) return { created: false, tokenFile: null, tokenFromEnv: false, position: null };
  const fromEnv = config.adminBootstrapToken !== undefined;
  const token = config.adminBootstrapToken ?? generateOperatorToken();
  const tokenFile = fromEnv ? null : join(config.dataDir, 'bootstrap-admin.token');
  try {
    const outcome = await handleCommand(
      store,
      operatorDecider,
      { streamId, tenantId: null },
      {
        type: 'CreateOperator',
        operator_id: BOOTSTRAP_OPERATOR_ID,
        display_name: 'bootstrap owner',
        role: 'owner',
        token_hash: hashToken(secrets.keyPepper, token),
        token_hint: tokenHint(token),
        bootstrap: true,
      },
      {
        actor: { type: 'system', id: 'bootstrap', display: 'first start' },
        requestId: null,
        correlationId: randomUUID(),
        causationId: null,
        idempotencyKey: null,
        expectedRevision: 0,
        sourceIp: null,
        userAgent: null,
        now,
      },
    );
    if (tokenFile) {
      mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
      writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    }
    return { created: true, tokenFile, tokenFromEnv: fromEnv, position: outcome.position };
  } catch (err) {
    // Another instance bootstrapped first.
    if ((err as { code?: string }).code === 'precondition_failed') return { created: false, tokenFile: null, tokenFromEnv: false, position: null };
    throw err;
  }
}

export function bootstrapTokenFile(config: AppConfig): string | null {
  const f = join(config.dataDir, 'bootstrap-admin.token');
  return existsSync(f) ? f : null;
}
