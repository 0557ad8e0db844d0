import request from 'supertest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type AppConfig } from '../../src/platform/config/config';
import type { EmbeddingProvider } from '../../src/data-plane/embeddings/embedding-provider';
import type { AnyProjection } from '../../src/platform/projections/projection';
import type { RunnerHooks } from '../../src/platform/projections/projection-runner';
import { type RunningService, startService } from '../../src/service';
import { CapturingLogger } from './service-logs';
import { createTestDatabase, type TestDatabase } from './test-db';

export const TEST_ADMIN_TOKEN = 'aio_admin_test-bootstrap-token-0123456789abcdef';
export const TEST_PEPPER = 'test-pepper-0123456789abcdef0123456789abcdef';

export interface TestService {
  readonly service: RunningService;
  readonly url: string;
  readonly tdb: TestDatabase;
  readonly config: AppConfig;
  readonly auth: { Authorization: string };
  stop(): Promise<void>;
}

/** A real service listening on a free port, on a database of its own. */
export async function startTestService(
  options: { env?: Record<string, string>; projections?: readonly AnyProjection[]; projectorHooks?: RunnerHooks; tdb?: TestDatabase; embeddingProvider?: EmbeddingProvider } = {},
): Promise<TestService> {
  const tdb = options.tdb ?? (await createTestDatabase());
  const dataDir = mkdtempSync(join(tmpdir(), 'aionis-e2e-'));
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    KEY_PEPPER: TEST_PEPPER,
    ADMIN_BOOTSTRAP_TOKEN: TEST_ADMIN_TOKEN,
    LOG_LEVEL: 'error',
    LOG_FORMAT: 'json',
    PROJECTOR_POLL_INTERVAL_MS: '200',
    // Every test client is 127.0.0.1: a per-address failed-authentication limit would measure how
    // many refusals a whole file makes. Counted, never reached; auth-throttle.e2e-spec.ts sets its own.
    AUTH_FAILURE_LIMIT: '100000',
    // Tests make admin calls faster than any tier admits (starter: 5/s, bursts of 10); the admin
    // rate limits are tested where a test turns them on (admin-rate-limit.e2e-spec.ts).
    ADMIN_RATE_LIMITS: 'false',
    // The alert evaluator appends events on its own schedule; a test that counts events must not
    // meet one. Tests of alerting turn it on (alerting-delivery.e2e-spec.ts).
    ALERTS_ENABLED: 'false',
    ...options.env,
  });
  // Kept, not printed: the test environment prints it when a test of this file fails.
  const logger = new CapturingLogger(`service ${dataDir}`);
  const service = await startService(config, {
    database: tdb.database,
    logger,
    ...(options.projections ? { projections: options.projections } : {}),
    ...(options.projectorHooks ? { projectorHooks: options.projectorHooks } : {}),
    ...(options.embeddingProvider ? { embeddingProvider: options.embeddingProvider } : {}),
  });
  return {
    service,
    url: service.url,
    tdb,
    config,
    auth: { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
    stop: async () => {
      await service.close();
      if (!options.tdb) await tdb.dispose();
      rmSync(dataDir, { recursive: true, force: true });
      logger.close();
    },
  };
}

/** One service for the enclosing describe block: started in beforeAll, stopped in afterAll. */
export function suiteService(options: Parameters<typeof startTestService>[0] = {}): { readonly t: TestService; readonly api: ReturnType<typeof request> } {
  let t: TestService | undefined;
  beforeAll(async () => {
    t = await startTestService(options);
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
  });
  const started = (): TestService => {
    if (!t) throw new Error('the suite service has not started');
    return t;
  };
  return {
    get t() {
      return started();
    },
    get api() {
      return request(started().url);
    },
  };
}
