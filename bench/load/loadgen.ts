import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { summarize } from '../lib/stats';

/**
 * The load generator, run as its own process (`node -r swc-register bench/load/loadgen.ts SPEC_JSON`)
 * so that it never shares an event loop with the server it measures. Closed loop: `connections`
 * keep-alive connections, each sending its next request when the previous answer has arrived,
 * for `warmupMs + durationMs`; only requests started after the warm-up count. `{{n}}` in the body
 * becomes a value unique to the request, `{{c}}` the number of the connection (0..connections-1). Prints one JSON result on stdout.
 */
export interface LoadSpec {
  readonly baseUrl: string;
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly connections: number;
  readonly durationMs: number;
  readonly warmupMs: number;
}

export interface LoadResult {
  readonly requests: number;
  readonly ok: number;
  readonly errors: number;
  readonly statuses: Record<string, number>;
  readonly seconds: number;
  readonly rps: number;
  readonly latency_ms: ReturnType<typeof summarize>;
  readonly first_error?: string;
}

async function run(spec: LoadSpec): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.connections });
  const url = new URL(spec.path, spec.baseUrl);
  const parts = spec.body?.split('{{n}}');
  const prefix = randomBytes(3).toString('hex');
  let seq = 0;
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let ok = 0;
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now();
  const measureFrom = start + spec.warmupMs;
  const end = measureFrom + spec.durationMs;

  const send = (body: string | undefined): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const req = http.request(
        url,
        {
          method: spec.method,
          agent,
          headers: { ...(body !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } : {}), ...spec.headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: (res.statusCode ?? 0) >= 400 ? Buffer.concat(chunks).toString('utf8').slice(0, 300) : '' }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });

  const loop = async (_: unknown, connection: number) => {
    const mine = parts?.map((p) => p.split('{{c}}').join(String(connection)));
    while (performance.now() < end) {
      seq += 1;
      const body = mine ? mine.join(`${prefix}-${seq}`) : undefined;
      const t0 = performance.now();
      let status = 0;
      try {
        const r = await send(body);
        status = r.status;
        if (status >= 400) firstError ??= `${status} ${r.text}`;
      } catch (err) {
        firstError ??= err instanceof Error ? err.message : String(err);
      }
      const t1 = performance.now();
      if (t0 < measureFrom || t1 > end) continue;
      latencies.push(t1 - t0);
      statuses[String(status)] = (statuses[String(status)] ?? 0) + 1;
      if (status >= 200 && status < 300) ok += 1;
      else errors += 1;
    }
  };
  await Promise.all(Array.from({ length: spec.connections }, loop));
  agent.destroy();
  const seconds = spec.durationMs / 1000;
  return { requests: latencies.length, ok, errors, statuses, seconds, rps: ok / seconds, latency_ms: summarize(latencies), ...(firstError ? { first_error: firstError } : {}) };
}

if (require.main === module) {
  const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
  run(spec)
    .then((r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
    })
    .catch((err: unknown) => {
      process.stderr.write(`loadgen: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    });
}
