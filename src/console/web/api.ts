/**
 * The console's one way to the admin API: same origin, the session cookie (HttpOnly: this code
 * never sees it), and the session's CSRF token on every change. The operator token is sent once,
 * at sign-in, in the Authorization header, and is never kept.
 */
export interface Me {
  operator: { operator_id: string; display_name: string; role: 'owner' | 'operator' | 'auditor' };
  session: { csrf_token: string; expires_at: string | null; idle_timeout_seconds: number } | null;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | null,
    message: string,
    readonly requestId: string | null,
  ) {
    super(message);
  }
}

let csrf: string | null = null;
let onSignedOut: () => void = () => undefined;

export function setSignedOutHandler(f: () => void): void {
  onSignedOut = f;
}

async function fail(res: Response): Promise<never> {
  let code: string | null = null;
  let detail = `${res.status} ${res.statusText}`;
  try {
    const body = (await res.json()) as { code?: string; detail?: string; message?: string };
    code = body.code ?? null;
    detail = body.detail ?? body.message ?? detail;
  } catch {
    /* not JSON */
  }
  throw new ApiError(res.status, code, detail, res.headers.get('x-request-id'));
}

export interface Answer<T> {
  readonly body: T;
  readonly requestId: string | null;
}

export async function call<T>(path: string, init: { method?: string; body?: unknown; accept?: string; query?: Record<string, string | undefined> } = {}): Promise<Answer<T>> {
  const method = init.method ?? 'GET';
  const headers: Record<string, string> = { Accept: init.accept ?? 'application/json' };
  if (method !== 'GET' && csrf) headers['X-CSRF-Token'] = csrf;
  if (init.body !== undefined) headers['Content-Type'] = 'application/json';
  const qs = init.query ? new URLSearchParams(Object.entries(init.query).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '')).toString() : '';
  const res = await fetch(qs ? `${path}?${qs}` : path, { method, headers, credentials: 'same-origin', cache: 'no-store', ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}) });
  if (res.status === 401) {
    csrf = null;
    onSignedOut();
  }
  if (!res.ok) return fail(res);
  const requestId = res.headers.get('x-request-id');
  if (res.status === 204) return { body: undefined as T, requestId };
  const type = res.headers.get('content-type') ?? '';
  return { body: (type.includes('json') && !type.includes('ndjson') ? await res.json() : await res.text()) as T, requestId };
}

export const get = async <T>(path: string, query?: Record<string, string | undefined>): Promise<T> => (await call<T>(path, query ? { query } : {})).body;

/** The current session, if the cookie is still good (also restores the CSRF token after a reload). */
export async function whoAmI(): Promise<Me | null> {
  const res = await fetch('/v1/admin/session', { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } });
  if (res.status === 401) return null;
  if (!res.ok) return fail(res);
  const me = (await res.json()) as Me;
  csrf = me.session?.csrf_token ?? null;
  return me;
}

export async function signIn(token: string): Promise<Me> {
  const res = await fetch('/v1/admin/session', { method: 'POST', credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json', Authorization: `Bearer ${token}` } });
  if (!res.ok) return fail(res);
  const me = (await res.json()) as Me;
  csrf = me.session?.csrf_token ?? null;
  return me;
}

export async function signOut(): Promise<void> {
  await call('/v1/admin/session', { method: 'DELETE' }).catch(() => undefined);
  csrf = null;
}
