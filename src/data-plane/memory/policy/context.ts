import { isJsonObject, ownGet, type JsonObject } from './pattern';

/**
 * Identity injection for the policy routes (rules/evaluate, tools/select, tools/feedback; contract
 * §1.4). With a principal: a context that is not a JSON object becomes `{}`; the context's agent
 * (`context.agent.id`, or `context.agent_id` when that is absent) must be the principal's agent and
 * its team (`context.agent.team_id`, or `context.team_id`) the principal's team, compared trimmed
 * and only when both sides are non-empty; then the missing ones among the four fields are filled
 * from the principal. The result is what evaluation reads and what decisions hash.
 *
 * "Missing" means not a non-blank string: a null, a number or `"  "` would otherwise slip past the
 * comparison AND leave evaluation without an agent, which turns lane enforcement off (§5.5 step 3)
 * and shows every owner's private rules; filling them keeps the caller inside its own identity.
 * A non-object `context.agent` (e.g. a string) is left as sent; the top-level fields carry the
 * identity then.
 */

export interface PolicyPrincipal {
  readonly agentId: string | null;
  readonly teamId: string | null;
}

export interface IdentityMismatch {
  readonly field: string;
  readonly provided: string;
  readonly expected: string;
}

export type InjectedContext = { readonly ok: true; readonly context: unknown } | { readonly ok: false; readonly mismatch: IdentityMismatch };

const usable = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v.trim() : null);

/**
 * Every usable claim of an identity: `context.agent.<nested>` and `context.<top>`, with the field
 * each came from. The open core compared only the first (the one evaluation reads); hosted, a
 * context may not carry a second, contradicting identity either, since a rule's condition may
 * read `agent_id` directly (a listed difference: it only refuses self-contradicting contexts).
 */
function claims(context: JsonObject, agent: JsonObject | null, nested: string, top: string): { field: string; value: string }[] {
  const out: { field: string; value: string }[] = [];
  const a = agent === null ? null : usable(ownGet(agent, nested));
  if (a !== null) out.push({ field: `context.agent.${nested}`, value: a });
  const t = usable(ownGet(context, top));
  if (t !== null) out.push({ field: `context.${top}`, value: t });
  return out;
}

function check(cs: readonly { field: string; value: string }[], expected: string | null): IdentityMismatch | null {
  const bad = expected === null ? undefined : cs.find((c) => c.value !== expected);
  return bad && expected !== null ? { field: bad.field, provided: bad.value, expected } : null;
}

/**
 * Without a principal (auth off) the context is returned as sent, absent included: nothing is
 * checked or filled, and evaluation then treats a non-object as `{}` while the decision hashes
 * what was sent.
 */
export function injectPolicyIdentity(context: unknown, principal: PolicyPrincipal | null): InjectedContext {
  if (principal === null) return { ok: true, context };
  const agentId = usable(principal.agentId);
  const teamId = usable(principal.teamId);
  const ctx: JsonObject = isJsonObject(context) ? context : {};
  const rawAgent = ownGet(ctx, 'agent');
  const agent = isJsonObject(rawAgent) ? rawAgent : null;

  const mismatch = check(claims(ctx, agent, 'id', 'agent_id'), agentId) ?? check(claims(ctx, agent, 'team_id', 'team_id'), teamId);
  if (mismatch !== null) return { ok: false, mismatch };
  if (agentId === null && teamId === null) return { ok: true, context: ctx };

  const out = Object.fromEntries(Object.entries(ctx));
  const fill = (o: Record<string, unknown>, key: string, value: string | null): void => {
    if (value !== null && usable(ownGet(o, key)) === null) Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
  };
  if (agent !== null || rawAgent === undefined || rawAgent === null) {
    const nested = Object.fromEntries(Object.entries(agent ?? {}));
    fill(nested, 'id', agentId);
    fill(nested, 'team_id', teamId);
    if (Object.keys(nested).length > 0) Object.defineProperty(out, 'agent', { value: nested, enumerable: true, writable: true, configurable: true });
  }
  fill(out, 'agent_id', agentId);
  fill(out, 'team_id', teamId);
  return { ok: true, context: out };
}
