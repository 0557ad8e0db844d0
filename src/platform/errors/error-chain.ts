/**
 * One line for an error and its causes, root cause last: `embedding request failed: fetch failed:
 * connect ECONNREFUSED 127.0.0.1:9`. Node's fetch throws "fetch failed" and keeps the reason in
 * `cause` (a system error, or an AggregateError of one per address tried); an operator needs the
 * reason. Pure: follows `cause` and AggregateError's `errors` a few levels deep, skips a part
 * already said by the previous one. Duck-typed, not `instanceof Error`: errors from another realm
 * (a VM context, a worker) are errors too.
 */
export function errorChain(err: unknown, maxDepth = 6): string {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  const visit = (e: unknown, depth: number): void => {
    if (depth > maxDepth || e === undefined || e === null || seen.has(e)) return;
    seen.add(e);
    const text = describeOne(e);
    if (text && !parts.some((p) => p.includes(text))) parts.push(text);
    const errors = (e as { errors?: unknown }).errors;
    if (isErrorLike(e) && Array.isArray(errors) && errors.length > 0) {
      const inner = [...new Set(errors.map((x) => errorChain(x, maxDepth - depth - 1)).filter((x) => x !== ''))].join('; ');
      if (inner && !parts.some((p) => p.includes(inner))) parts.push(inner);
    }
    if (isErrorLike(e) && e.cause !== undefined) visit(e.cause, depth + 1);
  };
  visit(err, 0);
  return parts.join(': ');
}

interface ErrorLike {
  readonly message: string;
  readonly name?: unknown;
  readonly cause?: unknown;
  readonly code?: unknown;
  readonly address?: unknown;
  readonly port?: unknown;
}

function isErrorLike(e: unknown): e is ErrorLike {
  return typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string';
}

function describeOne(e: unknown): string {
  if (!isErrorLike(e)) return typeof e === 'string' ? e : (JSON.stringify(e) ?? String(e));
  if (e.message) return e.message;
  // A system error without a message (rare): its code and where it tried to go.
  const where = typeof e.address === 'string' ? `${e.address}${typeof e.port === 'number' ? `:${e.port}` : ''}` : '';
  const what = typeof e.code === 'string' ? e.code : typeof e.name === 'string' ? e.name : 'Error';
  return [what, where].filter(Boolean).join(' ');
}
