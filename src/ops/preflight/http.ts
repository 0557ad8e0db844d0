/** A small HTTP client for the gates: never throws; network errors and timeouts come back in `error`. */
export interface HttpResult {
  readonly status: number | null;
  readonly contentType: string | null;
  readonly date: string | null;
  readonly body: unknown;
  readonly text: string;
  readonly ms: number;
  readonly error: string | null;
}

export async function http(
  method: 'GET' | 'POST',
  url: string,
  opts: { headers?: Record<string, string>; body?: unknown; timeoutMs: number },
): Promise<HttpResult> {
  const started = performance.now();
  try {
    const res = await fetch(url, {
      method,
      headers: { ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers },
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
    const text = await res.text();
    let body: unknown = null;
    try {
      body = text === '' ? null : (JSON.parse(text) as unknown);
    } catch {
      body = null;
    }
    return { status: res.status, contentType: res.headers.get('content-type'), date: res.headers.get('date'), body, text, ms: performance.now() - started, error: null };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const reason = e.name === 'TimeoutError' ? `timed out after ${opts.timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
    return { status: null, contentType: null, date: null, body: null, text: '', ms: performance.now() - started, error: `${method} ${url}: ${reason}` };
  }
}

/** Join a base URL and a path (`http://h:3000/` + `/health/ready`). */
export function urlOf(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path}`;
}
