import http from 'node:http';

/** A small keep-alive JSON client for setup calls and probes (load itself comes from bench/load/loadgen.ts). */
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

export interface HttpResponse {
  readonly status: number;
  readonly body: unknown;
  readonly text: string;
}

export function httpJson(url: string, options: { method?: string; headers?: Record<string, string>; body?: unknown; timeoutMs?: number } = {}): Promise<HttpResponse> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: options.method ?? (payload === undefined ? 'GET' : 'POST'),
        agent,
        headers: {
          ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}),
          ...options.headers,
        },
        timeout: options.timeoutMs ?? 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          if ((res.headers['content-type'] ?? '').includes('json') && text.length > 0) {
            try {
              body = JSON.parse(text) as unknown;
            } catch {
              body = text;
            }
          }
          resolve({ status: res.statusCode ?? 0, body, text });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** Like httpJson, but throws unless the status is the expected one. */
export async function expectStatus(expected: number, url: string, options: Parameters<typeof httpJson>[1] = {}): Promise<HttpResponse> {
  const r = await httpJson(url, options);
  if (r.status !== expected) throw new Error(`${options.method ?? 'GET'} ${url}: expected ${expected}, got ${r.status}: ${r.text.slice(0, 500)}`);
  return r;
}

export function closeHttp(): void {
  agent.destroy();
}
