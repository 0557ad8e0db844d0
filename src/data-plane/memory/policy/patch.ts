import { isJsonObject, type JsonObject } from './pattern';
import type { OutputFormat, OutputPatch, PolicyPatch, ToolPatch } from './types';

/**
 * The policy patch of a rule (`then`, contract §5.4): the one strict object of the system. Any
 * unknown key at any level makes it invalid. It is checked when a rule is promoted
 * (`invalid_rule_then_json`, details.message = the message below) and again at evaluation, where a
 * stored patch that fails is skipped (`skipped_invalid_then`).
 *
 *   { output?:     { format?: "json" | "text" | "markdown", strict?: boolean },
 *     tool?:       { allow?: string[<=100], deny?: string[<=100], prefer?: string[<=100] } (non-empty strings)
 *     extensions?: { <any key>: <any JSON> } }
 */

export interface PatchIssue {
  /** Dotted location inside the patch, `$` for the patch itself. */
  readonly path: string;
  readonly message: string;
}

export type PatchValidation = { readonly ok: true; readonly patch: PolicyPatch } | { readonly ok: false; readonly message: string; readonly issues: readonly PatchIssue[] };

export const TOOL_LIST_MAX = 100;
const OUTPUT_FORMATS: readonly OutputFormat[] = ['json', 'text', 'markdown'];
const TOOL_KEYS = ['allow', 'deny', 'prefer'] as const;
/** At most this many issues are listed; validation stops collecting after them. */
const MAX_ISSUES = 10;

const at = (base: string, key: string | number): string => (base === '$' ? String(key) : `${base}.${key}`);

const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

/** Keys of `o` outside `allowed`, each reported as an issue. */
function unknownKeys(o: JsonObject, allowed: readonly string[], path: string, issues: PatchIssue[]): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) issues.push({ path: at(path, k), message: 'unrecognized key' });
  }
}

function objectAt(v: unknown, path: string, issues: PatchIssue[]): JsonObject | null {
  if (isJsonObject(v)) return v;
  issues.push({ path, message: `expected an object, received ${typeName(v)}` });
  return null;
}

function validateOutput(v: unknown, issues: PatchIssue[]): OutputPatch | null {
  const o = objectAt(v, 'output', issues);
  if (o === null) return null;
  unknownKeys(o, ['format', 'strict'], 'output', issues);
  const out: { format?: OutputFormat; strict?: boolean } = {};
  if (o.format !== undefined) {
    const f = OUTPUT_FORMATS.find((x) => x === o.format);
    if (f === undefined) issues.push({ path: 'output.format', message: `expected one of ${OUTPUT_FORMATS.join(', ')}` });
    else out.format = f;
  }
  if (o.strict !== undefined) {
    if (typeof o.strict !== 'boolean') issues.push({ path: 'output.strict', message: `expected a boolean, received ${typeName(o.strict)}` });
    else out.strict = o.strict;
  }
  return out;
}

function validateToolList(v: unknown, path: string, issues: PatchIssue[]): readonly string[] | null {
  if (!Array.isArray(v)) {
    issues.push({ path, message: `expected an array, received ${typeName(v)}` });
    return null;
  }
  if (v.length > TOOL_LIST_MAX) issues.push({ path, message: `expected at most ${TOOL_LIST_MAX} items, received ${v.length}` });
  let ok = v.length <= TOOL_LIST_MAX;
  v.forEach((x, i) => {
    if (typeof x !== 'string' || x.length === 0) {
      ok = false;
      if (issues.length < MAX_ISSUES) issues.push({ path: at(path, i), message: typeof x === 'string' ? 'expected a non-empty string' : `expected a string, received ${typeName(x)}` });
    }
  });
  return ok ? (v as string[]) : null;
}

function validateTool(v: unknown, issues: PatchIssue[]): ToolPatch | null {
  const o = objectAt(v, 'tool', issues);
  if (o === null) return null;
  unknownKeys(o, TOOL_KEYS, 'tool', issues);
  const out: { allow?: readonly string[]; deny?: readonly string[]; prefer?: readonly string[] } = {};
  for (const k of TOOL_KEYS) {
    if (o[k] === undefined) continue;
    const list = validateToolList(o[k], `tool.${k}`, issues);
    if (list !== null) out[k] = list;
  }
  return out;
}

/**
 * Check `then` against the strict schema. The validated patch has the schema's key order
 * (output, tool, extensions; format, strict; allow, deny, prefer), as the open core's validator
 * produced; `extensions` is kept as stored.
 */
export function validatePatch(then: unknown): PatchValidation {
  const issues: PatchIssue[] = [];
  const root = objectAt(then, '$', issues);
  if (root !== null) {
    unknownKeys(root, ['output', 'tool', 'extensions'], '$', issues);
    const output = root.output === undefined ? undefined : validateOutput(root.output, issues);
    const tool = root.tool === undefined ? undefined : validateTool(root.tool, issues);
    const extensions = root.extensions === undefined ? undefined : objectAt(root.extensions, 'extensions', issues);
    if (issues.length === 0) {
      const patch: { output?: OutputPatch; tool?: ToolPatch; extensions?: JsonObject } = {};
      if (output) patch.output = output;
      if (tool) patch.tool = tool;
      if (extensions) patch.extensions = extensions;
      return { ok: true, patch };
    }
  }
  const listed = issues.slice(0, MAX_ISSUES);
  const more = issues.length > listed.length ? `; and ${issues.length - listed.length} more` : '';
  return { ok: false, issues: listed, message: `invalid policy patch: ${listed.map((i) => `${i.path}: ${i.message}`).join('; ')}${more}` };
}

/**
 * The sorted leaf paths of a patch (§5.6 `touched_paths`): dotted keys down to a scalar, an array
 * or an empty object; `"$"` for an empty patch. A null leaf touches nothing (as in the open core).
 * Iterative, because `extensions` may nest arbitrarily deep.
 */
export function touchedPaths(patch: PolicyPatch): string[] {
  const out: string[] = [];
  const stack: { readonly v: unknown; readonly path: string }[] = [{ v: patch, path: '' }];
  const seen = new Set<object>();
  while (stack.length > 0) {
    const { v, path } = stack.pop()!;
    if (v === null || v === undefined) continue;
    if (typeof v === 'object') {
      if (seen.has(v)) continue;
      seen.add(v);
    }
    const keys = isJsonObject(v) ? Object.keys(v) : [];
    if (!isJsonObject(v) || keys.length === 0) {
      out.push(path === '' ? '$' : path);
      continue;
    }
    for (const k of keys) stack.push({ v: v[k], path: path === '' ? k : `${path}.${k}` });
  }
  return out.sort();
}
