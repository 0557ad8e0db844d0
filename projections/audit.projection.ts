import { isSealedRouteUrl, routeUrlOrigin } from '../src/alerting/route-url';
import type { RecordedEvent } from '../src/platform/event-store/event-store';
import type { ProjectionDefinition } from '../src/platform/projections/projection';

/** Fields that hold credential digests: never shown in the audit trail (only ids and display prefixes). */
const SECRET_FIELDS = new Set(['secret_hash', 'token_hash', 'previous_token_hash', 'secret', 'token', 'api_key']);

export function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) if (!SECRET_FIELDS.has(k)) out[k] = redact(v);
    return out;
  }
  return value;
}

/**
 * An alert route's URL is a credential: the audit trail shows its origin only (the event holds it
 * sealed, src/alerting/route-url.ts; routes of an earlier release hold it in the clear, and a Slack
 * one is then shown by its origin too, as the alert-routes API does).
 */
function redactEvent(type: string, data: unknown): unknown {
  const d = redact(data);
  if ((type === 'AlertRouteCreated' || type === 'AlertRouteUpdated') && d !== null && typeof d === 'object') {
    const route = d as Record<string, unknown>;
    if (typeof route.url === 'string' && (route.kind === 'slack' || isSealedRouteUrl(route.url))) return { ...route, url: routeUrlOrigin(route.url) };
  }
  return d;
}

const RESOURCE_PREFIXES: readonly [string, string][] = [
  ['tenant-', 'tenant'],
  ['project-', 'project'],
  ['apikey-', 'api_key'],
  ['operator-', 'operator'],
  ['quota-', 'quota'],
  ['shards-roster', 'shard_roster'],
  ['shard-', 'shard'],
  ['placement-', 'tenant_placement'],
  ['security-', 'security'],
  ['dead-letters-', 'dead_letters'],
  ['rules-', 'rules'],
  ['alert-route-', 'alert_route'],
  ['alert-', 'alert'],
  ['slo-close-', 'slo_statement_close'],
  ['slo-', 'slo'],
  ['slostatements-', 'slo_statements'],
  ['session-', 'operator_session'],
];

/** Every resource type of the audit trail, for the API's filter (the console keeps its own copy, checked equal by test/unit/audit.projection.spec.ts). */
export const AUDIT_RESOURCE_TYPES: [string, ...string[]] = ['other', ...new Set(RESOURCE_PREFIXES.map(([, type]) => type))];

/** The resource a stream is about: `apikey-k123` -> api_key / k123. */
export function resourceOf(streamId: string): { type: string; id: string } {
  for (const [prefix, type] of RESOURCE_PREFIXES) if (streamId.startsWith(prefix)) return { type, id: streamId.slice(prefix.length) };
  return { type: 'other', id: streamId };
}

export interface AuditRow {
  readonly event_id: string;
  readonly transaction_id: number;
  readonly global_position: number;
  readonly stream_id: string;
  readonly stream_position: number;
  readonly type: string;
  readonly tenant_id: string | null;
  readonly actor_type: string;
  readonly actor_id: string;
  readonly actor_display: string | null;
  readonly occurred_at: string;
  readonly recorded_at: string;
  readonly request_id: string | null;
  readonly correlation_id: string | null;
  readonly source_ip: string | null;
  readonly user_agent: string | null;
  readonly resource_type: string;
  readonly resource_id: string;
  readonly data: unknown;
  readonly hash: string;
}

/**
 * rm_audit_events: every event of the log, one row each, in commit order, with credential digests
 * removed. Rows only ever arrive in (transaction_id, global_position) order, so a cursor on that
 * pair pages without duplicates or gaps while new events keep arriving.
 */
export const auditProjection: ProjectionDefinition<AuditRow> = {
  name: 'audit',
  version: 3,
  table: 'rm_audit_events',
  primaryKey: 'event_id',
  columns: {
    event_id: 'text',
    transaction_id: 'int',
    global_position: 'int',
    stream_id: 'text',
    stream_position: 'int',
    type: 'text',
    tenant_id: 'text',
    actor_type: 'text',
    actor_id: 'text',
    actor_display: 'text',
    occurred_at: 'timestamptz',
    recorded_at: 'timestamptz',
    request_id: 'text',
    correlation_id: 'text',
    source_ip: 'text',
    user_agent: 'text',
    resource_type: 'text',
    resource_id: 'text',
    data: 'jsonb',
    hash: 'text',
  },
  ddl: (t) => [
    `CREATE TABLE IF NOT EXISTS ${t} (
      event_id text PRIMARY KEY,
      transaction_id bigint NOT NULL,
      global_position bigint NOT NULL,
      stream_id text NOT NULL,
      stream_position bigint NOT NULL,
      type text NOT NULL,
      tenant_id text,
      actor_type text NOT NULL,
      actor_id text NOT NULL,
      actor_display text,
      occurred_at timestamptz NOT NULL,
      recorded_at timestamptz NOT NULL,
      request_id text,
      correlation_id text,
      source_ip text,
      user_agent text,
      resource_type text NOT NULL,
      resource_id text NOT NULL,
      data jsonb NOT NULL,
      hash text NOT NULL
    )`,
    `CREATE UNIQUE INDEX IF NOT EXISTS ${t.replace('.', '_')}_order ON ${t} (transaction_id, global_position)`,
    `CREATE INDEX IF NOT EXISTS ${t.replace('.', '_')}_tenant ON ${t} (tenant_id, transaction_id, global_position)`,
    `CREATE INDEX IF NOT EXISTS ${t.replace('.', '_')}_actor ON ${t} (actor_id, transaction_id, global_position)`,
    `CREATE INDEX IF NOT EXISTS ${t.replace('.', '_')}_resource ON ${t} (resource_type, resource_id, transaction_id, global_position)`,
    `CREATE INDEX IF NOT EXISTS ${t.replace('.', '_')}_request ON ${t} (request_id) WHERE request_id IS NOT NULL`,
  ],
  handles: 'all',
  keyOf: (e: RecordedEvent) => e.eventId,
  evolve(_row, e) {
    const resource = resourceOf(e.streamId);
    return {
      event_id: e.eventId,
      transaction_id: Number(e.transactionId),
      global_position: e.globalPosition,
      stream_id: e.streamId,
      stream_position: e.streamPosition,
      type: e.type,
      tenant_id: e.tenantId,
      actor_type: e.metadata.actor.type,
      actor_id: e.metadata.actor.id,
      actor_display: e.metadata.actor.display ?? null,
      occurred_at: e.metadata.occurred_at,
      recorded_at: e.recordedAt,
      request_id: e.metadata.request_id,
      correlation_id: e.metadata.correlation_id,
      source_ip: e.metadata.source_ip ?? null,
      user_agent: e.metadata.user_agent ?? null,
      resource_type: resource.type,
      resource_id: resource.id,
      data: redactEvent(e.type, e.data),
      hash: e.hash,
    };
  },
};
