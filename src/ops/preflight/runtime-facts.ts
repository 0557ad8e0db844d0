import { sql, type Kysely } from 'kysely';
import { BOOTSTRAP_OPERATOR_ID } from '../../control-plane/operators/bootstrap';
import { operatorStreamId } from '../../control-plane/shared/ids';
import { buildInfo, projectRoot } from '../../platform/build-info';
import type { DB } from '../../platform/db/schema';
import type { PepperProblem } from './pepper-policy';

/**
 * What `GET /v1/admin/ops/runtime` answers: the server's EFFECTIVE configuration and state, as
 * the running process sees it (never the caller's shell). No secret values, only verdicts.
 */
export interface RuntimeFacts {
  readonly version: string;
  /** BUILD_COMMIT, else the git commit of the checkout the process runs from. */
  readonly commit: string;
  readonly roles: readonly string[];
  readonly database: {
    readonly kind: 'pg' | 'pglite';
    /** Id of the deployment's first event (the bootstrap owner's creation): the same database answers the same id. */
    readonly deployment_id: string | null;
    readonly migrations_current: boolean;
    readonly pending_migrations: readonly string[];
  };
  readonly pepper: { readonly source: 'env' | 'data_dir_existing' | 'data_dir_generated'; readonly meets_policy: boolean; readonly problems: readonly PepperProblem[] };
  readonly auth: { readonly admin: 'operator_credentials'; readonly api_keys: 'required' };
  readonly rate_limits: { readonly enforced: boolean; readonly store: 'database'; readonly endpoint_classes: readonly string[] };
  readonly embeddings: { readonly provider: string; readonly model: string; readonly placeholder: boolean; readonly dimension: number };
  readonly owners: { readonly active_owner_ids: readonly string[]; readonly only_bootstrap: boolean };
  /** The listeners as configured (docs/deployment-topologies.md); absent from servers older than this field. */
  readonly network?: NetworkFacts;
  readonly server_time: string;
}

export interface NetworkFacts {
  /** The main listener's TLS (null: plain HTTP). */
  readonly tls: { readonly client_auth: 'none' | 'optional' | 'require' } | null;
  /** Set when the admin API has its own listener; the main one then serves the data plane only. */
  readonly admin_listener: { readonly host: string; readonly port: number; readonly tls: { readonly client_auth: 'none' | 'optional' | 'require' } | null } | null;
  readonly private_endpoints: readonly { readonly name: string; readonly tenant_id: string; readonly host: string; readonly port: number; readonly allowed_cidrs: readonly string[] }[];
}

/**
 * The deployment's identity as stored in its database: the event id of the bootstrap owner's
 * creation (written once, on first start). null on a database no service has started on.
 */
export async function deploymentId(db: Kysely<DB>): Promise<string | null> {
  const r = await sql<{ event_id: string }>`
    SELECT event_id::text AS event_id FROM es_events WHERE stream_id = ${operatorStreamId(BOOTSTRAP_OPERATOR_ID)} AND stream_position = 1`.execute(db);
  return r.rows[0]?.event_id ?? null;
}

/** The project root (where package.json is); one implementation, in platform/build-info. */
export const repoRoot = projectRoot;

export function serviceVersion(): string {
  try {
    return buildInfo().version;
  } catch {
    return 'unknown';
  }
}

export function serviceCommit(): string {
  try {
    return buildInfo().commit;
  } catch {
    return 'unknown';
  }
}
