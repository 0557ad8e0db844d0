import * as path from 'node:path';
import { z } from 'zod';
import { cronProblem } from './cron';

/** The monthly SLO statement close: 00:15 UTC on the 1st (the month is final at 00:10). */
export const SLO_STATEMENT_CRON_DEFAULT = '15 0 1 * *';
import { parseSealPrivateKey } from './seal-key';
import { loadTlsMaterial, type PrivateEndpointConfig, privateEndpointSchema, type TlsClientAuth, type TlsFiles, TlsMaterialError } from './tls';

/**
 * The typed configuration, parsed once at boot from the environment.
 * Every variable is documented in docs/configuration.md; keep the two in step.
 */
export type ProcessRole = 'api' | 'projector' | 'worker';

export interface AppConfig {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  /** Absent means the embedded PGlite database in `dataDir`. */
  readonly databaseUrl: string | undefined;
  readonly databasePoolSize: number;
  /**
   * Dedicated shards' connection URLs by reference name (SHARD_URLS). Only references ever leave
   * this map (events, logs, API answers name the reference, never the URL).
   */
  readonly shardUrls: ReadonlyMap<string, string>;
  readonly adminBootstrapToken: string | undefined;
  /** Absent means: read or create `dataDir/key-pepper` (see docs/configuration.md). */
  readonly keyPepper: string | undefined;
  readonly logLevel: LogLevel;
  readonly logFormat: 'json' | 'pretty';
  readonly otlpEndpoint: string | undefined;
  readonly otlpMetricIntervalMs: number;
  /** How long a gauge read from the database (outbox, open transactions, alerts) serves scrapes, ms. */
  readonly metricsGaugeCacheMs: number;
  readonly serviceName: string;
  readonly roles: ReadonlySet<ProcessRole>;
  readonly projector: {
    readonly batchSize: number;
    readonly pollIntervalMs: number;
    readonly readyMaxLagMs: number;
    readonly heartbeatStaleMs: number;
  };
  readonly embeddings: {
    /** `none` disables derived embeddings (recall_text answers 400 no_embedding_provider). */
    readonly provider: 'local' | 'fake' | 'openai' | 'none';
    /** Vector dimension of the deployment (the contract's 1536 by default); fixed once a database holds vectors. */
    readonly dimension: number;
    readonly baseUrl: string | undefined;
    readonly model: string;
    readonly apiKey: string | undefined;
    readonly timeoutMs: number;
  };
  /** The memory API (the open core's contract): text handling, recall defaults, CORS, back-pressure. */
  readonly memory: {
    readonly bodyLimit: string;
    readonly maxTextLen: number;
    readonly piiRedaction: boolean;
    /** `*` or exact origins. */
    readonly corsAllowOrigins: readonly string[];
    readonly recallProfile: RecallProfileName;
    readonly adaptiveDowngrade: boolean;
    readonly adaptiveTargetProfile: RecallProfileName;
    readonly adaptiveHardCap: boolean;
    /** recall_text's default context token budget when the request gives none (0 = off). */
    readonly recallTextContextTokenBudgetDefault: number;
    readonly recallGate: { readonly maxInflight: number; readonly maxQueue: number };
    readonly writeGate: { readonly maxInflight: number; readonly maxQueue: number };
    readonly gateQueueTimeoutMs: number;
  };
  readonly outbox: {
    readonly pollIntervalMs: number;
    readonly batchSize: number;
    readonly maxAttempts: number;
    readonly claimTimeoutMs: number;
  };
  readonly http: {
    /** Express `trust proxy`: which hops' X-Forwarded-For to believe for the client address. */
    readonly trustProxy: boolean | number | string;
    readonly bodyLimit: string;
    readonly commandWaitMs: number;
    /** Failed authentications per source address before `429 auth_throttled` (docs/api.md). */
    readonly authFailures: { readonly limit: number; readonly windowMs: number; readonly maxSources: number };
    /** Enforce the tiers' admin_rps / admin_burst on tenant-scoped admin calls (ADMIN_RATE_LIMITS; default true). */
    readonly adminRateLimits: boolean;
  };
  /** Console sessions (docs/console.md): idle and absolute expiry. */
  readonly console: {
    readonly sessionIdleMs: number;
    readonly sessionMaxMs: number;
  };
  readonly governance: {
    /** Where evidence bundles are archived: a directory (default DATA_DIR/archive) or an S3-compatible bucket. */
    readonly archiveDir: string;
    readonly s3: ArchiveS3Config | undefined;
    /** Five-field cron (UTC) of the scheduled weekly report; 'off' disables the schedule. */
    readonly weeklyReportCron: string | 'off';
    readonly keyRotationPolicyDays: number;
    /** Which week a scheduled run reports on: the one that just ended (default) or the week so far. */
    readonly weeklyReportWeek: 'previous' | 'current';
    /** How often the scheduler checks whether the cron has fired. */
    readonly schedulerTickMs: number;
    /** Five-field cron (UTC) of the monthly SLO statement close (docs/slo.md); 'off' disables it. Checked with GOVERNANCE_SCHEDULER_TICK_MS. */
    readonly sloStatementCron: string | 'off';
  };
  /** Where this deployment is reached by people (console links in alerts); PUBLIC_URL. */
  readonly publicUrl: string;
  /** SLO burn-rate and platform alerts (src/alerting, docs/alerting.md). */
  readonly alerting: {
    /** Whether worker-role processes evaluate alert rules (ALERTS_ENABLED). */
    readonly enabled: boolean;
    readonly evaluationIntervalMs: number;
    /** Where runbooks/alerts.md is browsable (alerts link `<base>/runbooks/alerts.md#<rule>`); absent: the repository path. */
    readonly runbookBaseUrl: string | undefined;
    readonly minRequests: number;
    readonly minFiringMs: number;
    readonly resolveDelayMs: number;
    readonly refireHoldMs: number;
    readonly deliveryMaxAttempts: number;
    readonly deliveryTimeoutMs: number;
    readonly projectionLagMs: number;
    readonly openTransactionMs: number;
    readonly outboxMaxAgeMs: number;
  };
  /** Listeners, TLS and private endpoints (docs/deployment-topologies.md). */
  readonly network: {
    /** TLS of the main listener (PORT/HOST); absent: plain HTTP. */
    readonly tls: TlsFiles | undefined;
    /** How often certificate files are checked for changes, ms (0: only on SIGHUP). */
    readonly tlsReloadIntervalMs: number;
    /** Set (ADMIN_PORT): the admin API, console, /metrics and /docs move to this listener; the main one serves only the data plane. */
    readonly admin: { readonly host: string; readonly port: number; readonly tls: TlsFiles | undefined } | undefined;
    readonly privateEndpoints: readonly PrivateEndpointConfig[];
  };
  readonly audit: {
    /** PKCS#8 PEM of the Ed25519 seal-signing key; absent means read or create `dataDir/audit-seal-key.pem`. */
    readonly sealPrivateKeyPem: string | undefined;
    readonly sealIntervalMs: number;
  };
}

export type RecallProfileName = 'legacy' | 'strict_edges' | 'quality_first';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const intIn = (min: number, max: number, dflt: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be >= ${min}`).max(max, `must be <= ${max}`))
    .optional()
    .transform((v) => v ?? dflt);

const optionalNonEmpty = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const boolFlag = (dflt: boolean) =>
  z
    .enum(['true', 'false', '1', '0'], { message: 'must be true or false' })
    .optional()
    .transform((v) => (v === undefined ? dflt : v === 'true' || v === '1'));

const recallProfile = z
  .enum(['legacy', 'strict_edges', 'quality_first'], { message: 'must be legacy, strict_edges or quality_first' })
  .optional()
  .transform((v) => v ?? 'strict_edges');

const clientAuth = z
  .enum(['none', 'optional', 'require'], { message: 'must be none, optional or require' })
  .optional();

const roleList = z
  .string()
  .optional()
  .transform((v, ctx) => {
    const raw = (v ?? 'api,projector,worker')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    const allowed: ProcessRole[] = ['api', 'projector', 'worker'];
    const bad = raw.filter((r) => !allowed.includes(r as ProcessRole));
    if (bad.length > 0 || raw.length === 0) {
      ctx.addIssue({ code: 'custom', message: `must be a comma-separated list of ${allowed.join(', ')} (got "${v ?? ''}")` });
      return z.NEVER;
    }
    return new Set(raw as ProcessRole[]);
  });

/** A SHARD_URLS reference name: the shard-id rule (src/control-plane/shards/shard.domain.ts), `shared` reserved. */
const SHARD_REF = /^[a-z][a-z0-9_-]{1,62}$/;

/**
 * SHARD_URLS: `name=postgres://…,name2=postgres://…` (a comma inside a URL is written %2C).
 * Problems name the entry by position and reference, never its URL (which may hold a password).
 */
const shardUrls = z
  .string()
  .optional()
  .transform((v, ctx) => {
    const map = new Map<string, string>();
    const entries = (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    entries.forEach((entry, i) => {
      const eq = entry.indexOf('=');
      const name = eq > 0 ? entry.slice(0, eq).trim() : '';
      const url = eq > 0 ? entry.slice(eq + 1).trim() : '';
      const where = `entry ${i + 1}${name ? ` (${name})` : ''}`;
      if (!SHARD_REF.test(name)) ctx.addIssue({ code: 'custom', message: `${where}: must be name=postgres://… with a name of a lowercase letter then lowercase letters, digits, "-" or "_" (2 to 63 characters)` });
      else if (name === 'shared') ctx.addIssue({ code: 'custom', message: `${where}: "shared" is the primary database (DATABASE_URL) and cannot be configured here` });
      else if (map.has(name)) ctx.addIssue({ code: 'custom', message: `${where}: the name ${name} is given twice` });
      else if (!/^postgres(ql)?:\/\/[^\s]+$/.test(url)) ctx.addIssue({ code: 'custom', message: `${where}: the URL must be a postgres:// or postgresql:// URL` });
      else map.set(name, url);
    });
    return map as ReadonlyMap<string, string>;
  });

const envSchema = z.object({
  PORT: intIn(0, 65535, 3000),
  HOST: optionalNonEmpty.transform((v) => v ?? '127.0.0.1'),
  DATA_DIR: optionalNonEmpty.transform((v) => v ?? './.data'),
  DATABASE_URL: optionalNonEmpty.refine((v) => v === undefined || /^postgres(ql)?:\/\//.test(v), {
    message: 'must be a postgres:// or postgresql:// URL (leave unset for the embedded database)',
  }),
  DATABASE_POOL_SIZE: intIn(2, 200, 20),
  SHARD_URLS: shardUrls,
  ADMIN_BOOTSTRAP_TOKEN: optionalNonEmpty.refine((v) => v === undefined || v.length >= 32, {
    message: 'must be at least 32 characters (or unset to generate one)',
  }),
  KEY_PEPPER: optionalNonEmpty.refine((v) => v === undefined || v.length >= 32, {
    message: 'must be at least 32 characters of secret material (or unset to generate one in DATA_DIR)',
  }),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace'], { message: 'must be one of fatal, error, warn, info, debug, trace' })
    .optional()
    .transform((v) => v ?? 'info'),
  LOG_FORMAT: z
    .enum(['json', 'pretty'], { message: 'must be json or pretty' })
    .optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalNonEmpty.refine((v) => v === undefined || /^https?:\/\/[^\s]+$/.test(v), {
    message: 'must be an http(s) URL such as http://localhost:4318',
  }),
  OTEL_METRIC_EXPORT_INTERVAL: intIn(100, 3_600_000, 15_000),
  METRICS_GAUGE_CACHE_MS: intIn(0, 300_000, 5000),
  OTEL_SERVICE_NAME: optionalNonEmpty.transform((v) => v ?? 'aionis-hosted'),
  AIONIS_ROLES: roleList,
  PROJECTOR_BATCH_SIZE: intIn(1, 50_000, 1000),
  PROJECTOR_POLL_INTERVAL_MS: intIn(10, 60_000, 500),
  PROJECTION_READY_MAX_LAG_MS: intIn(100, 3_600_000, 30_000),
  PROJECTOR_HEARTBEAT_STALE_MS: intIn(1000, 3_600_000, 30_000),
  HTTP_BODY_LIMIT: optionalNonEmpty.refine((v) => v === undefined || /^\d+(b|kb|mb)$/i.test(v), {
    message: 'must look like 512kb or 2mb',
  }),
  COMMAND_WAIT_FOR_PROJECTION_MS: intIn(0, 30_000, 2000),
  AUTH_FAILURE_LIMIT: intIn(0, 1_000_000, 30),
  AUTH_FAILURE_WINDOW_MS: intIn(1000, 86_400_000, 60_000),
  AUTH_FAILURE_MAX_SOURCES: intIn(100, 10_000_000, 100_000),
  EMBEDDING_PROVIDER: z
    .enum(['local', 'fake', 'openai', 'none'], { message: 'must be local, fake, openai or none' })
    .optional()
    .transform((v) => v ?? 'local'),
  EMBEDDING_DIM: intIn(1, 16_000, 1536),
  MEMORY_BODY_LIMIT: optionalNonEmpty.refine((v) => v === undefined || /^\d+(b|kb|mb)$/i.test(v), { message: 'must look like 512kb or 5mb' }),
  MAX_TEXT_LEN: intIn(16, 1_000_000, 8000),
  PII_REDACTION: boolFlag(true),
  ADMIN_RATE_LIMITS: boolFlag(true),
  CONSOLE_SESSION_IDLE_MINUTES: intIn(1, 1440, 30),
  CONSOLE_SESSION_MAX_HOURS: intIn(1, 168, 12),
  CORS_ALLOW_ORIGINS: optionalNonEmpty.transform((v, ctx) => {
    const list = (v ?? '*').split(',').map((o) => o.trim()).filter((o) => o !== '');
    const bad = list.filter((o) => o !== '*' && !/^https?:\/\/[^\s/]+$/.test(o));
    if (bad.length > 0 || list.length === 0) {
      ctx.addIssue({ code: 'custom', message: `must be * or a comma-separated list of origins such as https://app.example.com (bad: ${bad.join(', ') || '(empty)'})` });
      return z.NEVER;
    }
    return list;
  }),
  MEMORY_RECALL_PROFILE: recallProfile,
  MEMORY_RECALL_ADAPTIVE_DOWNGRADE_ENABLED: boolFlag(true),
  MEMORY_RECALL_ADAPTIVE_TARGET_PROFILE: recallProfile,
  MEMORY_RECALL_ADAPTIVE_HARD_CAP_ENABLED: boolFlag(true),
  MEMORY_RECALL_TEXT_CONTEXT_TOKEN_BUDGET_DEFAULT: intIn(0, 256_000, 0),
  MEMORY_RECALL_MAX_INFLIGHT: intIn(1, 100_000, 256),
  MEMORY_RECALL_MAX_QUEUE: intIn(0, 1_000_000, 6000),
  MEMORY_WRITE_MAX_INFLIGHT: intIn(1, 100_000, 96),
  MEMORY_WRITE_MAX_QUEUE: intIn(0, 1_000_000, 3000),
  MEMORY_QUEUE_TIMEOUT_MS: intIn(1, 600_000, 2000),
  EMBEDDING_BASE_URL: optionalNonEmpty.refine((v) => v === undefined || /^https?:\/\/\S+$/.test(v), { message: 'must be an http(s) URL' }),
  EMBEDDING_MODEL: optionalNonEmpty.transform((v) => v ?? 'text-embedding-3-small'),
  EMBEDDING_API_KEY: optionalNonEmpty,
  EMBEDDING_TIMEOUT_MS: intIn(100, 120_000, 10_000),
  OUTBOX_POLL_INTERVAL_MS: intIn(10, 60_000, 500),
  OUTBOX_BATCH_SIZE: intIn(1, 500, 20),
  OUTBOX_MAX_ATTEMPTS: intIn(1, 100, 8),
  OUTBOX_CLAIM_TIMEOUT_MS: intIn(1000, 3_600_000, 300_000),
  TRUST_PROXY: optionalNonEmpty.transform((v, ctx) => {
    if (v === undefined || v === 'false') return false;
    if (v === 'true') return true;
    if (/^\d{1,2}$/.test(v)) return Number(v);
    if (/^[0-9a-f.:/, ]+$|^(loopback|linklocal|uniquelocal)(,\s*(loopback|linklocal|uniquelocal))*$/i.test(v)) return v;
    ctx.addIssue({ code: 'custom', message: 'must be false, true, a hop count, loopback/linklocal/uniquelocal, or comma-separated addresses/CIDRs' });
    return z.NEVER;
  }),
  AUDIT_SEAL_PRIVATE_KEY: optionalNonEmpty.transform((v, ctx) => {
    if (v === undefined) return undefined;
    try {
      // Normalised to PEM so the rest of the service sees one form; the message never echoes the key.
      return parseSealPrivateKey(v).export({ format: 'pem', type: 'pkcs8' }).toString();
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : 'must be an Ed25519 PKCS#8 private key' });
      return z.NEVER;
    }
  }),
  AUDIT_SEAL_INTERVAL_MS: intIn(1000, 86_400_000, 60_000),
  ARCHIVE_DIR: optionalNonEmpty,
  ARCHIVE_S3_ENDPOINT: optionalNonEmpty.refine((v) => v === undefined || /^https?:\/\/\S+$/.test(v), { message: 'must be an http(s) URL' }),
  ARCHIVE_S3_BUCKET: optionalNonEmpty.refine((v) => v === undefined || /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(v), { message: 'must be an S3 bucket name' }),
  ARCHIVE_S3_PREFIX: optionalNonEmpty,
  ARCHIVE_S3_REGION: optionalNonEmpty,
  ARCHIVE_S3_ACCESS_KEY_ID: optionalNonEmpty,
  ARCHIVE_S3_SECRET_ACCESS_KEY: optionalNonEmpty,
  ARCHIVE_S3_SESSION_TOKEN: optionalNonEmpty,
  AWS_REGION: optionalNonEmpty,
  AWS_DEFAULT_REGION: optionalNonEmpty,
  GOVERNANCE_WEEKLY_REPORT_CRON: optionalNonEmpty.refine((v) => v === undefined || v === 'off' || cronProblem(v) === null, {
    message: 'must be a five-field cron expression in UTC (minute hour day-of-month month day-of-week), e.g. "0 4 * * 1", or off',
  }),
  SLO_STATEMENT_CRON: optionalNonEmpty.refine((v) => v === undefined || v === 'off' || cronProblem(v) === null, {
    message: 'must be a five-field cron expression in UTC (minute hour day-of-month month day-of-week), e.g. "15 0 1 * *", or off',
  }),
  KEY_ROTATION_POLICY_DAYS: intIn(1, 3650, 90),
  GOVERNANCE_SCHEDULER_TICK_MS: intIn(1000, 3_600_000, 30_000),
  PUBLIC_URL: optionalNonEmpty.refine((v) => v === undefined || /^https?:\/\/[^\s?#]+$/.test(v), { message: 'must be an http(s) URL without query or fragment, e.g. https://aionis.example.com' }),
  RUNBOOK_BASE_URL: optionalNonEmpty.refine((v) => v === undefined || /^https?:\/\/[^\s?#]+$/.test(v), { message: 'must be an http(s) URL without query or fragment' }),
  ALERTS_ENABLED: boolFlag(true),
  ALERT_EVALUATION_INTERVAL_MS: intIn(100, 3_600_000, 60_000),
  ALERT_MIN_REQUESTS: intIn(1, 1_000_000_000, 20),
  ALERT_MIN_FIRING_MS: intIn(0, 86_400_000, 300_000),
  ALERT_RESOLVE_DELAY_MS: intIn(0, 86_400_000, 300_000),
  ALERT_REFIRE_HOLD_MS: intIn(0, 86_400_000, 600_000),
  ALERT_DELIVERY_MAX_ATTEMPTS: intIn(1, 100, 10),
  ALERT_DELIVERY_TIMEOUT_MS: intIn(100, 120_000, 10_000),
  ALERT_PROJECTION_LAG_MS: intIn(1000, 86_400_000, 300_000),
  ALERT_OPEN_TRANSACTION_MS: intIn(1000, 86_400_000, 120_000),
  ALERT_OUTBOX_MAX_AGE_MS: intIn(1000, 604_800_000, 900_000),
  TLS_CERT_FILE: optionalNonEmpty,
  TLS_KEY_FILE: optionalNonEmpty,
  TLS_CLIENT_CA_FILE: optionalNonEmpty,
  TLS_CLIENT_AUTH: clientAuth,
  TLS_RELOAD_INTERVAL_MS: intIn(0, 86_400_000, 60_000).refine((v) => v === 0 || v >= 100, { message: 'must be 0 (SIGHUP only) or >= 100' }),
  ADMIN_HOST: optionalNonEmpty,
  ADMIN_PORT: optionalNonEmpty.pipe(intIn(0, 65535, -1)).transform((v) => (v === -1 ? undefined : v)),
  ADMIN_TLS_CERT_FILE: optionalNonEmpty,
  ADMIN_TLS_KEY_FILE: optionalNonEmpty,
  ADMIN_TLS_CLIENT_CA_FILE: optionalNonEmpty,
  ADMIN_TLS_CLIENT_AUTH: clientAuth,
  PRIVATE_ENDPOINTS: optionalNonEmpty.transform((v, ctx) => {
    if (v === undefined) return [];
    let raw: unknown;
    try {
      raw = JSON.parse(v);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON array of endpoints (docs/deployment-topologies.md)' });
      return z.NEVER;
    }
    const parsed = z.array(privateEndpointSchema).max(64).safeParse(raw);
    if (!parsed.success) {
      ctx.addIssue({ code: 'custom', message: parsed.error.issues.map((i) => `[${i.path.join('.')}] ${i.message}`).join('; ') });
      return z.NEVER;
    }
    return parsed.data;
  }),
  GOVERNANCE_WEEKLY_REPORT_WEEK: z.enum(['previous', 'current'], { message: 'must be previous or current' }).optional().transform((v) => v ?? 'previous'),
});

/** The S3-compatible evidence archive (ARCHIVE_S3_*). */
export interface ArchiveS3Config {
  /** A custom endpoint (MinIO, Ceph RGW, R2) reached with path-style requests; absent: AWS S3 itself. */
  readonly endpoint?: string | undefined;
  readonly bucket: string;
  readonly prefix: string;
  readonly region: string;
  /** Static keys; absent: the AWS SDK's default credential chain (AWS_* variables, profiles, web identity, container and instance roles). */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string | undefined } | undefined;
}

/** Parse the environment into the typed config; throws ConfigError listing every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  const late: string[] = [];
  if (e.EMBEDDING_PROVIDER === 'openai' && !e.EMBEDDING_BASE_URL) late.push('EMBEDDING_BASE_URL: required when EMBEDDING_PROVIDER=openai (e.g. https://api.openai.com/v1)');
  // The bucket turns the S3 archive on; credentials come from the SDK's default chain unless both static keys are given.
  const s3Any = (['ARCHIVE_S3_ENDPOINT', 'ARCHIVE_S3_ACCESS_KEY_ID', 'ARCHIVE_S3_SECRET_ACCESS_KEY', 'ARCHIVE_S3_SESSION_TOKEN', 'ARCHIVE_S3_PREFIX', 'ARCHIVE_S3_REGION'] as const).filter((v) => e[v] !== undefined);
  if (s3Any.length > 0 && e.ARCHIVE_S3_BUCKET === undefined) late.push(`ARCHIVE_S3_BUCKET: required when ${s3Any.join(', ')} is set (S3-compatible evidence archive)`);
  const keyPair = ['ARCHIVE_S3_ACCESS_KEY_ID', 'ARCHIVE_S3_SECRET_ACCESS_KEY'] as const;
  if ((e.ARCHIVE_S3_ACCESS_KEY_ID === undefined) !== (e.ARCHIVE_S3_SECRET_ACCESS_KEY === undefined)) {
    for (const v of keyPair.filter((x) => e[x] === undefined)) late.push(`${v}: required with ${keyPair.find((x) => x !== v)} (static keys go in pairs; leave both unset for the default AWS credential chain)`);
  }
  if (e.ARCHIVE_S3_SESSION_TOKEN !== undefined && e.ARCHIVE_S3_ACCESS_KEY_ID === undefined) late.push('ARCHIVE_S3_SESSION_TOKEN: only with ARCHIVE_S3_ACCESS_KEY_ID and ARCHIVE_S3_SECRET_ACCESS_KEY');
  const network = networkConfig(e, late);
  if (late.length > 0) throw new ConfigError(late);
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir: path.resolve(e.DATA_DIR),
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    shardUrls: e.SHARD_URLS,
    adminBootstrapToken: e.ADMIN_BOOTSTRAP_TOKEN,
    keyPepper: e.KEY_PEPPER,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT ?? (process.stdout.isTTY ? 'pretty' : 'json'),
    otlpEndpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT,
    otlpMetricIntervalMs: e.OTEL_METRIC_EXPORT_INTERVAL,
    metricsGaugeCacheMs: e.METRICS_GAUGE_CACHE_MS,
    serviceName: e.OTEL_SERVICE_NAME,
    roles: e.AIONIS_ROLES,
    projector: {
      batchSize: e.PROJECTOR_BATCH_SIZE,
      pollIntervalMs: e.PROJECTOR_POLL_INTERVAL_MS,
      readyMaxLagMs: e.PROJECTION_READY_MAX_LAG_MS,
      heartbeatStaleMs: e.PROJECTOR_HEARTBEAT_STALE_MS,
    },
    embeddings: {
      provider: e.EMBEDDING_PROVIDER,
      dimension: e.EMBEDDING_DIM,
      baseUrl: e.EMBEDDING_BASE_URL,
      model: e.EMBEDDING_MODEL,
      apiKey: e.EMBEDDING_API_KEY,
      timeoutMs: e.EMBEDDING_TIMEOUT_MS,
    },
    memory: {
      bodyLimit: e.MEMORY_BODY_LIMIT ?? '5mb',
      maxTextLen: e.MAX_TEXT_LEN,
      piiRedaction: e.PII_REDACTION,
      corsAllowOrigins: e.CORS_ALLOW_ORIGINS,
      recallProfile: e.MEMORY_RECALL_PROFILE,
      adaptiveDowngrade: e.MEMORY_RECALL_ADAPTIVE_DOWNGRADE_ENABLED,
      adaptiveTargetProfile: e.MEMORY_RECALL_ADAPTIVE_TARGET_PROFILE,
      adaptiveHardCap: e.MEMORY_RECALL_ADAPTIVE_HARD_CAP_ENABLED,
      recallTextContextTokenBudgetDefault: e.MEMORY_RECALL_TEXT_CONTEXT_TOKEN_BUDGET_DEFAULT,
      recallGate: { maxInflight: e.MEMORY_RECALL_MAX_INFLIGHT, maxQueue: e.MEMORY_RECALL_MAX_QUEUE },
      writeGate: { maxInflight: e.MEMORY_WRITE_MAX_INFLIGHT, maxQueue: e.MEMORY_WRITE_MAX_QUEUE },
      gateQueueTimeoutMs: e.MEMORY_QUEUE_TIMEOUT_MS,
    },
    outbox: {
      pollIntervalMs: e.OUTBOX_POLL_INTERVAL_MS,
      batchSize: e.OUTBOX_BATCH_SIZE,
      maxAttempts: e.OUTBOX_MAX_ATTEMPTS,
      claimTimeoutMs: e.OUTBOX_CLAIM_TIMEOUT_MS,
    },
    http: {
      trustProxy: e.TRUST_PROXY,
      bodyLimit: e.HTTP_BODY_LIMIT ?? '1mb',
      commandWaitMs: e.COMMAND_WAIT_FOR_PROJECTION_MS,
      authFailures: { limit: e.AUTH_FAILURE_LIMIT, windowMs: e.AUTH_FAILURE_WINDOW_MS, maxSources: e.AUTH_FAILURE_MAX_SOURCES },
      adminRateLimits: e.ADMIN_RATE_LIMITS,
    },
    console: {
      sessionIdleMs: e.CONSOLE_SESSION_IDLE_MINUTES * 60_000,
      sessionMaxMs: e.CONSOLE_SESSION_MAX_HOURS * 3_600_000,
    },
    governance: {
      archiveDir: path.resolve(e.ARCHIVE_DIR ?? path.join(e.DATA_DIR, 'archive')),
      s3: e.ARCHIVE_S3_BUCKET
        ? {
            endpoint: e.ARCHIVE_S3_ENDPOINT,
            bucket: e.ARCHIVE_S3_BUCKET,
            prefix: e.ARCHIVE_S3_PREFIX ?? 'aionis-evidence',
            region: e.ARCHIVE_S3_REGION ?? e.AWS_REGION ?? e.AWS_DEFAULT_REGION ?? 'us-east-1',
            credentials:
              e.ARCHIVE_S3_ACCESS_KEY_ID && e.ARCHIVE_S3_SECRET_ACCESS_KEY
                ? { accessKeyId: e.ARCHIVE_S3_ACCESS_KEY_ID, secretAccessKey: e.ARCHIVE_S3_SECRET_ACCESS_KEY, sessionToken: e.ARCHIVE_S3_SESSION_TOKEN }
                : undefined,
          }
        : undefined,
      weeklyReportCron: e.GOVERNANCE_WEEKLY_REPORT_CRON ?? '0 4 * * 1',
      keyRotationPolicyDays: e.KEY_ROTATION_POLICY_DAYS,
      schedulerTickMs: e.GOVERNANCE_SCHEDULER_TICK_MS,
      weeklyReportWeek: e.GOVERNANCE_WEEKLY_REPORT_WEEK,
      sloStatementCron: e.SLO_STATEMENT_CRON ?? SLO_STATEMENT_CRON_DEFAULT,
    },
    network,
    publicUrl: (e.PUBLIC_URL ?? `${network.tls ? 'https' : 'http'}://${e.HOST.includes(':') ? `[${e.HOST}]` : e.HOST}:${e.PORT}`).replace(/\/+$/, ''),
    alerting: {
      enabled: e.ALERTS_ENABLED,
      evaluationIntervalMs: e.ALERT_EVALUATION_INTERVAL_MS,
      runbookBaseUrl: e.RUNBOOK_BASE_URL?.replace(/\/+$/, ''),
      minRequests: e.ALERT_MIN_REQUESTS,
      minFiringMs: e.ALERT_MIN_FIRING_MS,
      resolveDelayMs: e.ALERT_RESOLVE_DELAY_MS,
      refireHoldMs: e.ALERT_REFIRE_HOLD_MS,
      deliveryMaxAttempts: e.ALERT_DELIVERY_MAX_ATTEMPTS,
      deliveryTimeoutMs: e.ALERT_DELIVERY_TIMEOUT_MS,
      projectionLagMs: e.ALERT_PROJECTION_LAG_MS,
      openTransactionMs: e.ALERT_OPEN_TRANSACTION_MS,
      outboxMaxAgeMs: e.ALERT_OUTBOX_MAX_AGE_MS,
    },
    audit: {
      sealPrivateKeyPem: e.AUDIT_SEAL_PRIVATE_KEY,
      sealIntervalMs: e.AUDIT_SEAL_INTERVAL_MS,
    },
  };
}

type Env = z.infer<typeof envSchema>;

/**
 * One listener's TLS files from its four variables (prefix `TLS_` or `ADMIN_TLS_`), checked on
 * disk now: every problem (missing pair, unreadable file, key not matching, expired) goes to `late`.
 */
function listenerTls(prefix: '' | 'ADMIN_', v: { cert?: string | undefined; key?: string | undefined; ca?: string | undefined; auth?: TlsClientAuth | undefined }, late: string[]): TlsFiles | undefined {
  const name = (s: string) => `${prefix}TLS_${s}`;
  if (v.cert === undefined && v.key === undefined) {
    for (const [val, s] of [[v.ca, 'CLIENT_CA_FILE'], [v.auth, 'CLIENT_AUTH']] as const) if (val !== undefined) late.push(`${name(s)}: only with ${name('CERT_FILE')} and ${name('KEY_FILE')}`);
    return undefined;
  }
  if (v.cert === undefined || v.key === undefined) {
    late.push(`${name(v.cert === undefined ? 'CERT_FILE' : 'KEY_FILE')}: required with ${name(v.cert === undefined ? 'KEY_FILE' : 'CERT_FILE')} (certificate and key go in pairs)`);
    return undefined;
  }
  const clientAuth = v.auth ?? 'none';
  if (clientAuth !== 'none' && v.ca === undefined) late.push(`${name('CLIENT_CA_FILE')}: required with ${name('CLIENT_AUTH')}=${clientAuth} (the CAs whose client certificates are accepted)`);
  if (clientAuth === 'none' && v.ca !== undefined) late.push(`${name('CLIENT_AUTH')}: set it to optional or require to use ${name('CLIENT_CA_FILE')}`);
  const files: TlsFiles = { certFile: path.resolve(v.cert), keyFile: path.resolve(v.key), clientCaFile: v.ca === undefined ? undefined : path.resolve(v.ca), clientAuth };
  checkTlsFiles(files, { cert: name('CERT_FILE'), key: name('KEY_FILE'), ca: name('CLIENT_CA_FILE') }, late);
  return files;
}

function checkTlsFiles(files: TlsFiles, names: { cert: string; key: string; ca: string }, late: string[]): void {
  try {
    loadTlsMaterial(files, names);
  } catch (err) {
    if (!(err instanceof TlsMaterialError)) throw err;
    late.push(...err.problems);
  }
}

function networkConfig(e: Env, late: string[]): AppConfig['network'] {
  const tls = listenerTls('', { cert: e.TLS_CERT_FILE, key: e.TLS_KEY_FILE, ca: e.TLS_CLIENT_CA_FILE, auth: e.TLS_CLIENT_AUTH }, late);
  const ownAdminTls = [e.ADMIN_TLS_CERT_FILE, e.ADMIN_TLS_KEY_FILE, e.ADMIN_TLS_CLIENT_CA_FILE, e.ADMIN_TLS_CLIENT_AUTH].some((x) => x !== undefined);
  if (e.ADMIN_PORT === undefined) {
    if (e.ADMIN_HOST !== undefined) late.push('ADMIN_HOST: only with ADMIN_PORT (the admin listener)');
    if (ownAdminTls) late.push('ADMIN_TLS_*: only with ADMIN_PORT (the admin listener)');
  } else if (e.ADMIN_PORT !== 0 && e.ADMIN_PORT === e.PORT) late.push(`ADMIN_PORT: must differ from PORT (${e.PORT})`);
  const adminTls = ownAdminTls && e.ADMIN_PORT !== undefined ? listenerTls('ADMIN_', { cert: e.ADMIN_TLS_CERT_FILE, key: e.ADMIN_TLS_KEY_FILE, ca: e.ADMIN_TLS_CLIENT_CA_FILE, auth: e.ADMIN_TLS_CLIENT_AUTH }, late) : tls;
  const admin = e.ADMIN_PORT === undefined ? undefined : { host: e.ADMIN_HOST ?? e.HOST, port: e.ADMIN_PORT, tls: adminTls };
  const ports = new Map<number, string>([[e.PORT, 'PORT']]);
  if (e.ADMIN_PORT !== undefined) ports.set(e.ADMIN_PORT, 'ADMIN_PORT');
  const names = new Set<string>();
  const privateEndpoints = e.PRIVATE_ENDPOINTS.map((p, i): PrivateEndpointConfig => {
    const at = `PRIVATE_ENDPOINTS[${i}] (${p.name})`;
    if (names.has(p.name)) late.push(`${at}: the name is used twice`);
    names.add(p.name);
    const taken = p.port === 0 ? undefined : ports.get(p.port);
    if (taken) late.push(`${at}: port ${p.port} is already ${taken}'s`);
    if (p.port !== 0) ports.set(p.port, at);
    const cert = p.cert_file ?? e.TLS_CERT_FILE;
    const key = p.key_file ?? e.TLS_KEY_FILE;
    if (cert === undefined || key === undefined) late.push(`${at}: cert_file and key_file are required when TLS_CERT_FILE and TLS_KEY_FILE are unset`);
    const files: TlsFiles = { certFile: path.resolve(cert ?? ''), keyFile: path.resolve(key ?? ''), clientCaFile: path.resolve(p.client_ca_file), clientAuth: 'require' };
    if (cert !== undefined && key !== undefined) checkTlsFiles(files, { cert: `${at}.cert_file`, key: `${at}.key_file`, ca: `${at}.client_ca_file` }, late);
    return { name: p.name, host: p.host, port: p.port, tenantId: p.tenant_id, allowedCidrs: p.allowed_cidrs, tls: files };
  });
  return { tls, tlsReloadIntervalMs: e.TLS_RELOAD_INTERVAL_MS, admin, privateEndpoints };
}

export const APP_CONFIG = Symbol('APP_CONFIG');
