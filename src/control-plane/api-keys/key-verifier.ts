import { hostname } from 'node:os';
import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { Counter } from '@opentelemetry/api';
import { sql } from 'kysely';
import { APP_CONFIG, type AppConfig } from '../../platform/config/config';
import { SECRETS, type Secrets } from '../../platform/config/secrets';
import { DATABASE, type Database } from '../../platform/db/database';
import { METRICS, type Metrics } from '../../platform/telemetry/metrics';
import { digestsEqual } from '../operators/credentials';
import { keyUnusableReason, type Scope } from './api-key.domain';
import { hashSecret, parseApiKey } from './key-format';
import type { ClientCertificateIdentity } from '../../platform/http/client-certificate';
import { cidrAllows } from '../../platform/http/cidr';
import { clientIdentityAllows } from './client-identities';

/** Who a valid key speaks for. */
export interface KeyPrincipal {
  readonly key_id: string;
  readonly tenant_id: string;
  readonly project_id: string | null;
  /** The agent the key is bound to (memory API principal), or null. */
  readonly agent_id: string | null;
  /** The team the key is bound to (memory API principal), or null. */
  readonly team_id: string | null;
  readonly scopes: readonly Scope[];
  readonly display: string;
}

/** Why a key was refused: recorded for operators (metric, security log), never told to the caller. */
export type RejectReason =
  | 'missing'
  | 'malformed'
  | 'unknown_key'
  | 'wrong_secret'
  | 'revoked'
  | 'expired'
  | 'grace_ended'
  | 'tenant_suspended'
  | 'tenant_missing'
  | 'project_archived'
  | 'cidr_denied'
  | 'client_identity_denied'
  | 'endpoint_tenant_denied';

/** What the connection says besides the key: its verified client certificate and, on a private endpoint, the endpoint's tenant. */
export interface ConnectionFacts {
  readonly clientCertificate: ClientCertificateIdentity | null;
  /** Set on a tenant-dedicated private endpoint: only keys of this tenant are served there. */
  readonly endpointTenantId: string | null;
}
const NO_CONNECTION_FACTS: ConnectionFacts = { clientCertificate: null, endpointTenantId: null };

export type Verification = { readonly ok: true; readonly principal: KeyPrincipal } | { readonly ok: false; readonly reason: RejectReason; readonly keyId: string | null };

interface KeyRecord {
  key_id: string;
  tenant_id: string;
  project_id: string | null;
  agent_id: string | null;
  team_id: string | null;
  scopes: Scope[];
  allowed_cidrs: string[];
  allowed_client_identities: string[];
  secret_hash: string;
  display: string;
  status: 'active' | 'revoked';
  expires_at: string | null;
  grace_until: string | null;
  tenant_status: string | null;
  project_status: string | null;
}

/** Notifications that can change whether a cached key is still good. */
const INVALIDATING = new Set(['api_keys', 'tenants', 'projects']);
/** Backstop only: pushed invalidation (LISTEN/NOTIFY) is what bounds revocation. */
export const KEY_CACHE_TTL_MS = 2000;
const LOCAL_DENY_MS = 60_000;
const USAGE_FLUSH_MS = 10_000;

/**
 * Verifies API keys on the hot path. Malformed keys (format or checksum) are refused before any
 * database access. Records are cached per key id; every process drops its cache when the
 * projector commits a change to keys, tenants or projects (NOTIFY), and entries expire after
 * KEY_CACHE_TTL_MS in case a notification is lost. The instance that revokes a key also denies
 * it locally at once. `last_used_at` is collected in memory and written in batches.
 */
@Injectable()
export class KeyVerifier implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('KeyAuth');
  private readonly cache = new Map<string, { record: KeyRecord | null; at: number }>();
  private readonly denied = new Map<string, number>();
  private readonly lastUsed = new Map<string, string>();
  private unlisten: (() => Promise<void>) | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private generation = 0;
  private readonly failures: Counter;
  private readonly successes: Counter;
  private readonly instanceId = `${hostname()}:${process.pid}`;
  private propagationCursor = 0;
  /** Changes recorded before this instance started are not its to measure. */
  private measuringSince = new Date().toISOString();
  private propagationRunning = false;
  private propagationPending = false;

  constructor(
    @Inject(DATABASE) private readonly database: Database,
    @Inject(SECRETS) private readonly secrets: Secrets,
    @Inject(METRICS) metrics: Metrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.failures = metrics.meter.createCounter('aionis_api_key_rejections', { description: 'API keys refused, by reason (never told to the caller)' });
    this.successes = metrics.meter.createCounter('aionis_api_key_verifications', { description: 'API keys accepted' });
  }

  async onModuleInit(): Promise<void> {
    const measure = this.config.roles.has('api');
    if (measure) {
      const r = await sql<{ gp: number | null; now: Date }>`
        SELECT (SELECT last_global_position FROM proj_checkpoints WHERE projection = 'api_keys') AS gp, clock_timestamp() AS now`.execute(this.database.db);
      this.propagationCursor = Number(r.rows[0]?.gp ?? 0);
      this.measuringSince = new Date(r.rows[0]?.now ?? Date.now()).toISOString();
    }
    this.unlisten = await this.database.listen('aionis_projection_progress', (projection) => {
      if (INVALIDATING.has(projection)) this.flush();
      if (measure && projection === 'api_keys') void this.recordPropagation();
    });
    this.flushTimer = setInterval(() => void this.flushUsage(), USAGE_FLUSH_MS);
    this.flushTimer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    if (this.flushTimer) clearInterval(this.flushTimer);
    await this.unlisten?.();
    await this.flushUsage();
  }

  /** Drop every cached record (a change to keys, tenants or projects was committed). */
  flush(): void {
    this.generation += 1;
    this.cache.clear();
  }

  /**
   * Measured propagation (for the governance report): when this API instance dropped its cache
   * after each key revocation or rotation the api_keys projection has applied, on the database
   * clock, next to the event's own time. One sample per event and instance; never blocks a request.
   */
  private async recordPropagation(): Promise<void> {
    if (this.propagationRunning) {
      this.propagationPending = true;
      return;
    }
    this.propagationRunning = true;
    try {
      do {
        this.propagationPending = false;
        // Commit order may differ from position order among concurrent transactions: look back a
        // little below the cursor and let the primary key drop what was already recorded.
        const r = await sql<{ gp: number }>`
          INSERT INTO key_propagation_samples (event_global_position, event_id, key_id, change, instance_id, event_recorded_at, observed_at)
          SELECT e.global_position, e.event_id, e.data->>'key_id', e.type, ${this.instanceId}, e.recorded_at, clock_timestamp()
          FROM es_events e JOIN proj_checkpoints c ON c.projection = 'api_keys'
          WHERE e.global_position > ${Math.max(0, this.propagationCursor - 1000)}
            AND e.type IN ('ApiKeyRevoked', 'ApiKeyRotated') AND e.recorded_at >= ${this.measuringSince}::timestamptz
            AND (e.transaction_id, e.global_position) <= (c.last_transaction_id, c.last_global_position)
          ON CONFLICT DO NOTHING
          RETURNING event_global_position AS gp`.execute(this.database.db);
        for (const row of r.rows) this.propagationCursor = Math.max(this.propagationCursor, Number(row.gp));
      } while (this.propagationPending);
    } catch (err) {
      this.logger.warn({ msg: 'could not record key propagation', err });
    } finally {
      this.propagationRunning = false;
    }
  }

  forget(keyId: string): void {
    this.generation += 1;
    this.cache.delete(keyId);
  }

  /** Refuse this key in this process from now on (the revoking instance, before the read model catches up). */
  deny(keyId: string): void {
    this.forget(keyId);
    this.denied.set(keyId, Date.now() + LOCAL_DENY_MS);
  }

  private async load(keyId: string): Promise<KeyRecord | null> {
    const hit = this.cache.get(keyId);
    if (hit && Date.now() - hit.at < KEY_CACHE_TTL_MS) return hit.record;
    const generation = this.generation;
    const r = await sql<Omit<KeyRecord, 'expires_at' | 'grace_until'> & { expires_at: Date | null; grace_until: Date | null }>`
      SELECT k.key_id, k.tenant_id, k.project_id, k.agent_id, k.team_id, k.scopes, k.allowed_cidrs, k.allowed_client_identities, k.secret_hash, k.display, k.status,
             k.expires_at, k.grace_until, t.status AS tenant_status, p.status AS project_status
      FROM rm_api_keys k
      LEFT JOIN rm_tenants t ON t.tenant_id = k.tenant_id
      LEFT JOIN rm_projects p ON p.project_id = k.project_id
      WHERE k.key_id = ${keyId}`.execute(this.database.db);
    const row = r.rows[0];
    const record: KeyRecord | null = row
      ? { ...row, expires_at: row.expires_at ? new Date(row.expires_at).toISOString() : null, grace_until: row.grace_until ? new Date(row.grace_until).toISOString() : null }
      : null;
    // A flush that happened while we were reading makes this result suspect: do not cache it.
    if (generation === this.generation) this.cache.set(keyId, { record, at: Date.now() });
    return record;
  }

  async verify(token: string | undefined, sourceIp: string | null, now: Date = new Date(), connection: ConnectionFacts = NO_CONNECTION_FACTS): Promise<Verification> {
    if (!token) return { ok: false, reason: 'missing', keyId: null };
    const parsed = parseApiKey(token);
    if (!parsed) return { ok: false, reason: 'malformed', keyId: null };
    const keyId = parsed.keyId;
    const deniedUntil = this.denied.get(keyId);
    if (deniedUntil !== undefined) {
      if (deniedUntil > Date.now()) return { ok: false, reason: 'revoked', keyId };
      this.denied.delete(keyId);
    }
    const k = await this.load(keyId);
    if (!k) return { ok: false, reason: 'unknown_key', keyId };
    if (!digestsEqual(k.secret_hash, hashSecret(this.secrets.keyPepper, parsed.secret))) return { ok: false, reason: 'wrong_secret', keyId };
    const unusable = keyUnusableReason(k, now.toISOString());
    if (unusable) return { ok: false, reason: unusable, keyId };
    if (k.tenant_status === null) return { ok: false, reason: 'tenant_missing', keyId };
    if (k.tenant_status !== 'active') return { ok: false, reason: 'tenant_suspended', keyId };
    if (k.project_id !== null && k.project_status !== 'active') return { ok: false, reason: 'project_archived', keyId };
    if (connection.endpointTenantId !== null && k.tenant_id !== connection.endpointTenantId) return { ok: false, reason: 'endpoint_tenant_denied', keyId };
    if (k.allowed_cidrs.length > 0 && !cidrAllows(k.allowed_cidrs, sourceIp)) return { ok: false, reason: 'cidr_denied', keyId };
    if (!clientIdentityAllows(k.allowed_client_identities, connection.clientCertificate)) return { ok: false, reason: 'client_identity_denied', keyId };
    this.lastUsed.set(keyId, now.toISOString());
    return {
      ok: true,
      principal: { key_id: k.key_id, tenant_id: k.tenant_id, project_id: k.project_id, agent_id: k.agent_id, team_id: k.team_id, scopes: k.scopes, display: k.display },
    };
  }

  /** `log: false`: count it only (a throttled source's failures are announced once by AuthThrottle). */
  recordOutcome(v: Verification, sourceIp: string | null, options: { log: boolean } = { log: true }): void {
    if (v.ok) {
      this.successes.add(1);
      return;
    }
    this.failures.add(1, { reason: v.reason });
    if (options.log) this.logger.warn({ msg: 'api key refused', security: true, reason: v.reason, key_id: v.keyId, ip: sourceIp });
  }

  /** Write collected last-use times (one statement for the batch). */
  async flushUsage(): Promise<void> {
    if (this.lastUsed.size === 0) return;
    const batch = [...this.lastUsed.entries()];
    this.lastUsed.clear();
    try {
      await sql`
        INSERT INTO api_key_usage (key_id, last_used_at)
        SELECT * FROM unnest(${sql.val(batch.map(([k]) => k))}::text[], ${sql.val(batch.map(([, t]) => t))}::timestamptz[])
        ON CONFLICT (key_id) DO UPDATE SET last_used_at = GREATEST(api_key_usage.last_used_at, EXCLUDED.last_used_at)`.execute(this.database.db);
    } catch (err) {
      this.logger.warn({ msg: 'could not record key usage', err });
    }
  }
}
