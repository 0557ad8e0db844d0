import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { ApiKeyEvent } from '../../src/control-plane/api-keys/api-key.domain';
import { displayOf, generateApiKey, hashSecret } from '../../src/control-plane/api-keys/key-format';
import { apiKeyStreamId, tenantStreamId } from '../../src/control-plane/shared/ids';
import type { TenantEvent } from '../../src/control-plane/tenants/tenant.domain';
import type { Database } from '../../src/platform/db/database';
import type { EventMetadata, NewEvent } from '../../src/platform/event-store/event-store';
import type { PostgresEventStore } from '../../src/platform/event-store/postgres-event-store';
import { BENCH_PEPPER } from './processes';

/**
 * A control-plane log of a given size, made of the event types the product writes (the shapes are
 * the domain's own types): tenants created, renamed and re-tiered, API keys created, relabelled,
 * rotated to a successor and revoked. Appended through the event store itself (real hash chains,
 * real transaction ids), a few streams per transaction, several transactions at once.
 *
 * About 90% of the events belong to one large tenant (`AUDITED_TENANT`, the one the audit export
 * scenario exports); the rest to many small tenants.
 */
export const AUDITED_TENANT = 'bench-audited';

interface Append {
  readonly streamId: string;
  readonly tenantId: string;
  readonly events: NewEvent[];
}

export interface Dataset {
  readonly events: number;
  readonly tenants: number;
  readonly keys: number;
  readonly auditedTenant: string;
  readonly auditedEvents: number;
  readonly loadSeconds: number;
}

function metadata(): EventMetadata {
  return {
    actor: { type: 'operator', id: 'op_bench_loader', display: 'bench loader' },
    occurred_at: new Date().toISOString(),
    correlation_id: randomUUID(),
    causation_id: null,
    request_id: randomUUID(),
    command_id: null,
    source_ip: '127.0.0.1',
    user_agent: 'aionis-bench/1',
  };
}

const tenantEvent = (e: TenantEvent): NewEvent => e;
const keyEvent = (e: ApiKeyEvent): NewEvent => e;

function keyCreated(tenantId: string, label: string, rotatedFrom: string | null): { keyId: string; event: NewEvent } {
  const k = generateApiKey('live');
  return {
    keyId: k.keyId,
    event: keyEvent({
      type: 'ApiKeyCreated',
      data: {
        key_id: k.keyId,
        tenant_id: tenantId,
        project_id: null,
        label,
        scopes: ['memory:read', 'memory:write'],
        expires_at: null,
        allowed_cidrs: [],
        metadata: { team: 'agents', env: 'prod' },
        secret_hash: hashSecret(BENCH_PEPPER, k.secret),
        display: displayOf(k.token),
        rotated_from: rotatedFrom,
      },
    }),
  };
}

/** A rotation pair of the audited tenant: 5 events in 2 streams. */
function keyRotationGroup(tenantId: string, i: number): Append[] {
  const a = keyCreated(tenantId, `agent key ${i}`, null);
  const b = keyCreated(tenantId, `agent key ${i} (rotated)`, a.keyId);
  const graceUntil = new Date(Date.now() + 86_400_000).toISOString();
  return [
    {
      streamId: apiKeyStreamId(a.keyId),
      tenantId,
      events: [
        a.event,
        keyEvent({ type: 'ApiKeyUpdated', data: { key_id: a.keyId, tenant_id: tenantId, label: `agent key ${i} (prod)` } }),
        keyEvent({ type: 'ApiKeyRotated', data: { key_id: a.keyId, tenant_id: tenantId, successor_key_id: b.keyId, grace_until: graceUntil } }),
      ],
    },
    {
      streamId: apiKeyStreamId(b.keyId),
      tenantId,
      events: [b.event, keyEvent({ type: 'ApiKeyRevoked', data: { key_id: b.keyId, tenant_id: tenantId, reason: 'benchmark', cascade_from: null } })],
    },
  ];
}

/** A small tenant: 3 tenant events and one key with 4 events (7 events in 2 streams). */
function smallTenant(i: number): Append[] {
  const tenantId = `bench-t${i}`;
  const k = keyCreated(tenantId, 'default', null);
  return [
    {
      streamId: tenantStreamId(tenantId),
      tenantId,
      events: [
        tenantEvent({ type: 'TenantCreated', data: { tenant_id: tenantId, display_name: `Bench tenant ${i}`, tier: 'starter', metadata: { region: 'eu-west', plan_ref: `p-${i}` } } }),
        tenantEvent({ type: 'TenantUpdated', data: { tenant_id: tenantId, display_name: `Bench tenant ${i} Ltd` } }),
        tenantEvent({ type: 'TenantTierChanged', data: { tenant_id: tenantId, from: 'starter', to: 'growth' } }),
      ],
    },
    {
      streamId: apiKeyStreamId(k.keyId),
      tenantId,
      events: [
        k.event,
        keyEvent({ type: 'ApiKeyUpdated', data: { key_id: k.keyId, tenant_id: tenantId, label: 'default (ci)' } }),
        keyEvent({ type: 'ApiKeyUpdated', data: { key_id: k.keyId, tenant_id: tenantId, metadata: { team: 'ci' } } }),
        keyEvent({ type: 'ApiKeyRevoked', data: { key_id: k.keyId, tenant_id: tenantId, reason: 'rotated out', cascade_from: null } }),
      ],
    },
  ];
}

/** Generate and append about `total` events; returns what was written. */
export async function loadControlPlaneLog(database: Database, store: PostgresEventStore, total: number, log: (m: string) => void, concurrency = 4): Promise<Dataset> {
  const started = performance.now();
  const auditedTarget = Math.round(total * 0.9);
  const groups = Math.max(1, Math.floor((auditedTarget - 1) / 5));
  const smallTenants = Math.max(1, Math.round((total - 1 - groups * 5) / 7));
  // Work items: the audited tenant's creation first, then key groups and small tenants interleaved.
  let nextGroup = 0;
  let nextSmall = 0;
  let createdAudited = false;
  const nextWork = (): Append[] | undefined => {
    if (!createdAudited) {
      createdAudited = true;
      return [
        {
          streamId: tenantStreamId(AUDITED_TENANT),
          tenantId: AUDITED_TENANT,
          events: [tenantEvent({ type: 'TenantCreated', data: { tenant_id: AUDITED_TENANT, display_name: 'Audited Corp', tier: 'enterprise', metadata: { region: 'eu-west' } } })],
        },
      ];
    }
    // About 9 key groups per small tenant keeps the 90/10 split all along the log.
    if (nextGroup < groups && (nextSmall >= smallTenants || nextGroup < (nextSmall + 1) * (groups / smallTenants))) return keyRotationGroup(AUDITED_TENANT, nextGroup++);
    if (nextSmall < smallTenants) return smallTenant(nextSmall++);
    return undefined;
  };
  let written = 0;
  let keys = 0;
  let lastLog = 0;
  const first = nextWork();
  if (first) {
    await database.db.transaction().execute(async (trx) => {
      for (const a of first) await store.append(a.streamId, a.events, { expectedRevision: 'no_stream', tenantId: a.tenantId, metadata: metadata(), trx });
    });
    written += 1;
  }
  const worker = async () => {
    for (;;) {
      // About 100 events per transaction: many streams, each appended with its own expected revision.
      const batch: Append[] = [];
      let n = 0;
      while (n < 100) {
        const w = nextWork();
        if (!w) break;
        batch.push(...w);
        n += w.reduce((s, a) => s + a.events.length, 0);
      }
      if (batch.length === 0) return;
      await database.db.transaction().execute(async (trx) => {
        for (const a of batch) await store.append(a.streamId, a.events, { expectedRevision: 'no_stream', tenantId: a.tenantId, metadata: metadata(), trx });
      });
      written += n;
      keys += batch.filter((a) => a.streamId.startsWith('apikey-')).length;
      if (written - lastLog >= 100_000) {
        lastLog = written;
        log(`  loaded ${written.toLocaleString('en-US')} / ~${total.toLocaleString('en-US')} events (${Math.round(written / ((performance.now() - started) / 1000)).toLocaleString('en-US')}/s)`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const counts = await sql<{ total: number; audited: number }>`
    SELECT count(*)::int AS total, count(*) FILTER (WHERE tenant_id = ${AUDITED_TENANT})::int AS audited FROM es_events`.execute(database.db);
  const r = counts.rows[0];
  return {
    events: Number(r?.total ?? 0),
    tenants: smallTenants + 1,
    keys,
    auditedTenant: AUDITED_TENANT,
    auditedEvents: Number(r?.audited ?? 0),
    loadSeconds: (performance.now() - started) / 1000,
  };
}
