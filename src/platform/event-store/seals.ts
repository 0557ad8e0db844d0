import { createHash, type KeyObject, sign, verify } from 'node:crypto';
import { type Counter } from '@opentelemetry/api';
import { sql, type Kysely, type Transaction } from 'kysely';
import { type SealKey } from '../config/seal-key';
import type { Database } from '../db/database';
import type { DB } from '../db/schema';
import type { Metrics } from '../telemetry/metrics';
import { canonicalJson, sha256Hex } from './canonical-json';
import { type Checkpoint, checkpointOf, compareCheckpoints, formatCheckpoint, GENESIS_HASH, parseCheckpoint, type RecordedEvent, START } from './event-store';
import { readAllFrom } from './postgres-event-store';

/**
 * Global seals (docs/audit-seals.md): a signed checkpoint over the next range of the global log in
 * commit order. Per-stream hash chains cannot see a whole event vanish between two streams, or two
 * streams' events swap places; a seal commits to the exact ordered list of event hashes of its
 * range (overall and per tenant) and links to the previous seal, so both become visible offline.
 *
 * The per-tenant entries are committed through a sparse Merkle tree (tenants_root) rather than
 * listed in the signed body: a tenant's export then carries a proof for that tenant only, and
 * never reveals which other tenants exist or how active they were.
 */

export const SEAL_FORMAT = 'aionis-seal/1';
/** Entry for events without a tenant (platform streams). Parentheses never occur in tenant ids. */
export const GLOBAL_TENANT_KEY = '(global)';
export const DEFAULT_MAX_SEAL_EVENTS = 50_000;

/** The signed part of a seal. Positions are `<transaction id>:<global position>`; the range is (from, to]. */
export interface SealBody {
  readonly format: typeof SEAL_FORMAT;
  readonly seal_no: number;
  readonly from: string;
  readonly to: string;
  readonly event_count: number;
  /** Digest of every event hash of the range, in commit order. */
  readonly range_digest: string;
  /** Root of the sparse Merkle tree over the per-tenant entries. */
  readonly tenants_root: string;
  readonly tenant_count: number;
  /** seal_hash of seal_no - 1 (64 zeros for seal 1). */
  readonly prev_seal_hash: string;
  readonly key_id: string;
  readonly sealed_at: string;
}

/** One tenant's share of a range: how many events and the digest of their hashes in commit order. */
export interface TenantEntry {
  readonly count: number;
  readonly digest: string;
}

export interface Seal {
  readonly body: SealBody;
  readonly tenants: Readonly<Record<string, TenantEntry>>;
  /** SHA-256 of the canonical JSON of the body. */
  readonly seal_hash: string;
  /** Ed25519 signature of the canonical JSON of the body, base64. */
  readonly signature: string;
  /** The signer's raw 32-byte public key, base64 (its SHA-256 prefix is body.key_id). */
  readonly public_key: string;
}

// ---------------------------------------------------------------------------------------------
// Digests

/** SHA-256 over each event hash followed by "\n", in the order added. Streams: no list is kept. */
export class HashListDigest {
  private readonly h = createHash('sha256');
  count = 0;

  add(eventHash: string): void {
    this.h.update(`${eventHash}\n`, 'utf8');
    this.count += 1;
  }

  /** Final value; the object cannot be used afterwards. */
  digest(): string {
    return this.h.digest('hex');
  }
}

export function hashListDigest(hashes: Iterable<string>): string {
  const d = new HashListDigest();
  for (const h of hashes) d.add(h);
  return d.digest();
}

export function tenantKeyOf(tenantId: string | null): string {
  return tenantId ?? GLOBAL_TENANT_KEY;
}

type SealedEvent = Pick<RecordedEvent, 'transactionId' | 'globalPosition' | 'tenantId' | 'hash'>;

/** Folds the events of one range, in commit order, into what a seal records. */
export class RangeAccumulator {
  private readonly all = new HashListDigest();
  private readonly byTenant = new Map<string, HashListDigest>();
  private last: Checkpoint | undefined;

  get count(): number {
    return this.all.count;
  }

  get lastPosition(): Checkpoint | undefined {
    return this.last;
  }

  add(e: SealedEvent): void {
    this.all.add(e.hash);
    const key = tenantKeyOf(e.tenantId);
    let d = this.byTenant.get(key);
    if (!d) this.byTenant.set(key, (d = new HashListDigest()));
    d.add(e.hash);
    this.last = checkpointOf(e);
  }

  finish(): { count: number; to: Checkpoint; range_digest: string; tenants: Record<string, TenantEntry> } {
    if (!this.last) throw new Error('RangeAccumulator: no events');
    const tenants: Record<string, TenantEntry> = {};
    for (const [k, d] of [...this.byTenant].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) tenants[k] = { count: d.count, digest: d.digest() };
    return { count: this.all.count, to: this.last, range_digest: this.all.digest(), tenants };
  }
}

// ---------------------------------------------------------------------------------------------
// Sparse Merkle tree over tenant entries: 128 levels, a tenant's leaf at the path given by the
// first 128 bits of SHA-256("aionis-seal-tenant\n" + key). A proof lists the non-empty siblings
// only; the same check proves presence (with the entry) and absence (with the empty leaf), and it
// reveals nothing about other tenants but hashes. 128 bits: no two tenant keys share a path in
// practice (finding two that do takes ~2^64 work), at half the hashing of a 256-level tree.

const DEPTH = 128;
const scratch = Buffer.alloc(65);
/** SHA-256(0x01 || left || right). */
function nodeHash(left: Buffer, right: Buffer): Buffer {
  scratch[0] = 1;
  left.copy(scratch, 1);
  right.copy(scratch, 33);
  return createHash('sha256').update(scratch).digest();
}
const EMPTY: Buffer[] = (() => {
  const e: Buffer[] = new Array<Buffer>(DEPTH + 1);
  e[DEPTH] = Buffer.alloc(32);
  for (let d = DEPTH - 1; d >= 0; d--) e[d] = nodeHash(e[d + 1]!, e[d + 1]!);
  return e;
})();

/** The leaf position of a tenant key: the first DEPTH bits of this hash. */
export function tenantPath(key: string): Buffer {
  return createHash('sha256').update(`aionis-seal-tenant\n${key}`, 'utf8').digest().subarray(0, DEPTH / 8);
}

/** SHA-256(0x00 || path || canonical JSON of {count, digest}). */
function leafHash(path: Buffer, entry: TenantEntry): Buffer {
  return createHash('sha256')
    .update(Buffer.from([0]))
    .update(path)
    .update(canonicalJson({ count: entry.count, digest: entry.digest }), 'utf8')
    .digest();
}

const bitAt = (path: Buffer, depth: number): number => (path[depth >> 3]! >> (7 - (depth & 7))) & 1;

interface Leaf {
  readonly path: Buffer;
  readonly hash: Buffer;
}

function leavesOf(tenants: Readonly<Record<string, TenantEntry>>): Leaf[] {
  const seen = new Set<string>();
  return Object.entries(tenants).map(([key, entry]) => {
    const path = tenantPath(key);
    const id = path.toString('hex');
    if (seen.has(id)) throw new Error(`two tenant keys share the sparse Merkle path ${id}`);
    seen.add(id);
    return { path, hash: leafHash(path, entry) };
  });
}

/** Root of the subtree at `depth` holding exactly `leaves` (all sharing the path prefix above it). */
function subtreeRoot(leaves: readonly Leaf[], depth: number): Buffer {
  if (leaves.length === 0) return EMPTY[depth]!;
  if (depth === DEPTH) return leaves[0]!.hash;
  const left = leaves.filter((l) => bitAt(l.path, depth) === 0);
  const right = leaves.filter((l) => bitAt(l.path, depth) === 1);
  return nodeHash(subtreeRoot(left, depth + 1), subtreeRoot(right, depth + 1));
}

export function tenantsRoot(tenants: Readonly<Record<string, TenantEntry>>): string {
  return subtreeRoot(leavesOf(tenants), 0).toString('hex');
}

/** A tenant's entry (null: no events in the range) and the non-empty siblings on its path, as [depth, hash]. */
export interface TenantProof {
  readonly entry: TenantEntry | null;
  readonly siblings: readonly (readonly [number, string])[];
}

export function proveTenant(tenants: Readonly<Record<string, TenantEntry>>, key: string): TenantProof {
  const path = tenantPath(key);
  const siblings: [number, string][] = [];
  let current = leavesOf(tenants);
  for (let depth = 0; depth < DEPTH && current.length > 0; depth++) {
    const bit = bitAt(path, depth);
    const other = current.filter((l) => bitAt(l.path, depth) !== bit);
    if (other.length > 0) siblings.push([depth, subtreeRoot(other, depth + 1).toString('hex')]);
    current = current.filter((l) => bitAt(l.path, depth) === bit);
  }
  return { entry: tenants[key] ?? null, siblings };
}

/** Does `proof` (with its entry, or the empty leaf when the entry is null) lead to `root`? */
export function verifyTenantProof(root: string, key: string, proof: TenantProof): boolean {
  const siblings = new Map<number, Buffer>();
  for (const s of proof.siblings as readonly unknown[]) {
    if (!Array.isArray(s) || s.length !== 2) return false;
    const [depth, hash] = s as [unknown, unknown];
    if (!Number.isInteger(depth) || (depth as number) < 0 || (depth as number) >= DEPTH || siblings.has(depth as number)) return false;
    if (typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash)) return false;
    siblings.set(depth as number, Buffer.from(hash, 'hex'));
  }
  const path = tenantPath(key);
  let h = proof.entry ? leafHash(path, proof.entry) : EMPTY[DEPTH]!;
  for (let depth = DEPTH - 1; depth >= 0; depth--) {
    const sibling = siblings.get(depth) ?? EMPTY[depth + 1]!;
    h = bitAt(path, depth) === 0 ? nodeHash(h, sibling) : nodeHash(sibling, h);
  }
  return h.toString('hex') === root;
}

// ---------------------------------------------------------------------------------------------
// Bodies, hashes and signatures

export function buildSealBody(input: {
  readonly prev: Pick<SealBody, 'seal_no' | 'to'> & { readonly seal_hash: string } | undefined;
  readonly range: { readonly count: number; readonly to: Checkpoint; readonly range_digest: string; readonly tenants: Readonly<Record<string, TenantEntry>> };
  readonly keyId: string;
  readonly sealedAt: string;
}): SealBody {
  return {
    format: SEAL_FORMAT,
    seal_no: (input.prev?.seal_no ?? 0) + 1,
    from: input.prev?.to ?? formatCheckpoint(START),
    to: formatCheckpoint(input.range.to),
    event_count: input.range.count,
    range_digest: input.range.range_digest,
    tenants_root: tenantsRoot(input.range.tenants),
    tenant_count: Object.keys(input.range.tenants).length,
    prev_seal_hash: input.prev?.seal_hash ?? GENESIS_HASH,
    key_id: input.keyId,
    sealed_at: input.sealedAt,
  };
}

export function sealHashOf(body: SealBody): string {
  return sha256Hex(canonicalJson(body));
}

export function signSealBody(body: SealBody, privateKey: KeyObject): string {
  return sign(null, Buffer.from(canonicalJson(body), 'utf8'), privateKey).toString('base64');
}

export function verifySealSignature(body: SealBody, signature: string, publicKey: KeyObject): boolean {
  try {
    return verify(null, Buffer.from(canonicalJson(body), 'utf8'), publicKey, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

export function sealOf(body: SealBody, tenants: Readonly<Record<string, TenantEntry>>, key: SealKey): Seal {
  return { body, tenants, seal_hash: sealHashOf(body), signature: signSealBody(body, key.privateKey), public_key: key.publicKeyBase64 };
}

/**
 * What is wrong with `body` as the successor of `prev` (undefined: `body` must be seal 1).
 * Empty when the link holds: consecutive numbers, prev_seal_hash, and ranges that meet exactly.
 */
export function sealLinkProblems(prev: SealBody | undefined, body: SealBody): string[] {
  const problems: string[] = [];
  const expectedNo = (prev?.seal_no ?? 0) + 1;
  if (body.seal_no !== expectedNo) problems.push(`seal ${body.seal_no} follows ${prev ? `seal ${prev.seal_no}` : 'nothing'} (expected seal ${expectedNo}: a seal is missing)`);
  const expectedPrev = prev ? sealHashOf(prev) : GENESIS_HASH;
  if (body.prev_seal_hash !== expectedPrev) problems.push(`seal ${body.seal_no}: prev_seal_hash does not match ${prev ? `the hash of seal ${prev.seal_no}` : 'the genesis hash'}`);
  const expectedFrom = prev?.to ?? formatCheckpoint(START);
  if (body.from !== expectedFrom) problems.push(`seal ${body.seal_no}: its range starts after ${body.from}, not where ${prev ? `seal ${prev.seal_no}` : 'the log'} ends (${expectedFrom})`);
  return problems;
}

/** Is the event at `position` inside the seal's range (from, to]? */
export function inSealRange(body: Pick<SealBody, 'from' | 'to'>, position: Checkpoint): boolean {
  return compareCheckpoints(position, parseCheckpoint(body.from)) > 0 && compareCheckpoints(position, parseCheckpoint(body.to)) <= 0;
}

// ---------------------------------------------------------------------------------------------
// Storage (SQL only)

type Executor = Kysely<DB> | Transaction<DB>;

interface SealRow {
  seal_no: number;
  from_tx: string;
  from_gp: number;
  to_tx: string;
  to_gp: number;
  event_count: number;
  range_digest: string;
  tenants: Record<string, TenantEntry>;
  tenants_root: string;
  prev_seal_hash: string;
  seal_hash: string;
  signature: string;
  key_id: string;
  public_key: string;
  sealed_at: Date;
}

const SEAL_COLUMNS = sql`seal_no, from_transaction_id::text AS from_tx, from_global_position AS from_gp, to_transaction_id::text AS to_tx,
  to_global_position AS to_gp, event_count, range_digest, tenants, tenants_root, prev_seal_hash, seal_hash, signature, key_id, public_key, sealed_at`;

function sealOfRow(r: SealRow): Seal {
  const tenants = r.tenants;
  return {
    body: {
      format: SEAL_FORMAT,
      seal_no: r.seal_no,
      from: `${r.from_tx}:${r.from_gp}`,
      to: `${r.to_tx}:${r.to_gp}`,
      event_count: r.event_count,
      range_digest: r.range_digest,
      tenants_root: r.tenants_root,
      tenant_count: Object.keys(tenants).length,
      prev_seal_hash: r.prev_seal_hash,
      key_id: r.key_id,
      sealed_at: r.sealed_at.toISOString(),
    },
    tenants,
    seal_hash: r.seal_hash,
    signature: r.signature,
    public_key: r.public_key,
  };
}

export async function lastSeal(db: Executor): Promise<Seal | undefined> {
  const r = await sql<SealRow>`SELECT ${SEAL_COLUMNS} FROM es_seals ORDER BY seal_no DESC LIMIT 1`.execute(db);
  const row = r.rows[0];
  return row ? sealOfRow(row) : undefined;
}

/** Seals with seal_no > after, ascending. */
export async function listSeals(db: Executor, options: { after: number; limit: number }): Promise<Seal[]> {
  const r = await sql<SealRow>`SELECT ${SEAL_COLUMNS} FROM es_seals WHERE seal_no > ${options.after} ORDER BY seal_no LIMIT ${options.limit}`.execute(db);
  return r.rows.map(sealOfRow);
}

/**
 * The seals an export up to `upTo` covers, ascending from seal_no > afterSealNo: every seal ending at
 * or before `upTo`, or with `meets`, only those whose range (from, to] meets [first, last].
 */
export async function sealsForExport(
  db: Executor,
  options: { upTo: Checkpoint; meets?: { first: Checkpoint; last: Checkpoint }; afterSealNo: number; limit: number },
): Promise<Seal[]> {
  const m = options.meets;
  const r = await sql<SealRow>`
    SELECT ${SEAL_COLUMNS} FROM es_seals
    WHERE (to_transaction_id, to_global_position) <= (${options.upTo.transactionId}::xid8, ${options.upTo.globalPosition}::bigint)
      AND seal_no > ${options.afterSealNo}
      ${m ? sql`AND (to_transaction_id, to_global_position) >= (${m.first.transactionId}::xid8, ${m.first.globalPosition}::bigint)
      AND (from_transaction_id, from_global_position) < (${m.last.transactionId}::xid8, ${m.last.globalPosition}::bigint)` : sql``}
    ORDER BY seal_no LIMIT ${options.limit}`.execute(db);
  return r.rows.map(sealOfRow);
}

async function insertSeal(db: Executor, seal: Seal): Promise<void> {
  const b = seal.body;
  const from = parseCheckpoint(b.from);
  const to = parseCheckpoint(b.to);
  await sql`
    INSERT INTO es_seals (seal_no, from_transaction_id, from_global_position, to_transaction_id, to_global_position, event_count,
      range_digest, tenants, tenants_root, prev_seal_hash, seal_hash, signature, key_id, public_key, sealed_at)
    VALUES (${b.seal_no}, ${from.transactionId}::xid8, ${from.globalPosition}, ${to.transactionId}::xid8, ${to.globalPosition}, ${b.event_count},
      ${b.range_digest}, ${canonicalJson(seal.tenants)}::jsonb, ${b.tenants_root}, ${b.prev_seal_hash}, ${seal.seal_hash}, ${seal.signature},
      ${b.key_id}, ${seal.public_key}, ${b.sealed_at}::timestamptz)`.execute(db);
}

// ---------------------------------------------------------------------------------------------
// The sealer

/** Advisory-lock key of the sealer (two-int form), distinct from the projector's namespace. */
const SEAL_LOCK = [0x41_49_53, 1] as const;

export type SealOutcome =
  | { readonly status: 'sealed'; readonly seal: Seal }
  /** Nothing new since the last seal. */
  | { readonly status: 'idle' }
  /** Another sealer holds the lock or wrote a seal first; its seal stands. */
  | { readonly status: 'lost_race' };

export interface SealerOptions {
  readonly intervalMs: number;
  /** Largest seal; a backlog is sealed in several. */
  readonly maxEvents?: number;
  readonly pageSize?: number;
  readonly metrics?: Metrics;
  readonly logger?: { error(message: string | { msg: string; err: unknown }): void };
  readonly now?: () => Date;
}

/**
 * Writes the next seal every interval when there are new events (worker role). Reads after the
 * last seal with readAllFrom, which only returns events of transactions that can no longer be
 * overtaken, so a sealed range never changes afterwards. Several sealers may run: each builds its
 * seal without locks, then writes it in a transaction holding an advisory lock and only if the last
 * seal is still the one it built on, so seal numbers stay dense and unique (the key also refuses
 * a duplicate).
 */
export class Sealer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly maxEvents: number;
  private readonly pageSize: number;
  private readonly sealsWritten: Counter | undefined;
  private readonly eventsSealed: Counter | undefined;

  constructor(
    private readonly database: Database,
    private readonly key: SealKey,
    private readonly options: SealerOptions,
  ) {
    this.maxEvents = options.maxEvents ?? DEFAULT_MAX_SEAL_EVENTS;
    this.pageSize = options.pageSize ?? 5000;
    this.sealsWritten = options.metrics?.meter.createCounter('aionis_audit_seals_written', { description: 'Global seals written by this process' });
    this.eventsSealed = options.metrics?.meter.createCounter('aionis_audit_sealed_events', { description: 'Events covered by the global seals this process wrote' });
  }

  start(): void {
    if (this.stopped || this.timer) return;
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.running = this.catchUp()
        .then(() => undefined)
        .catch((err: unknown) => this.options.logger?.error({ msg: 'sealing failed', err }))
        .finally(() => {
          this.running = undefined;
          if (!this.stopped) this.schedule();
        });
    }, this.options.intervalMs);
    this.timer.unref();
  }

  /** Seal until a seal is not full (a backlog takes several). Returns the seals written. */
  async catchUp(): Promise<Seal[]> {
    const written: Seal[] = [];
    for (;;) {
      const r = await this.sealOnce();
      if (r.status !== 'sealed') break;
      written.push(r.seal);
      if (r.seal.body.event_count < this.maxEvents || this.stopped) break;
    }
    return written;
  }

  /** Build and write the next seal, if there are events after the last one. */
  async sealOnce(): Promise<SealOutcome> {
    const db = this.database.db;
    const prev = await lastSeal(db);
    const range = new RangeAccumulator();
    let after = prev ? parseCheckpoint(prev.body.to) : START;
    while (range.count < this.maxEvents) {
      const limit = Math.min(this.pageSize, this.maxEvents - range.count);
      const page = await readAllFrom(db, { after, limit });
      for (const e of page) range.add(e);
      if (page.length < limit) break;
      after = range.lastPosition ?? after;
    }
    if (range.count === 0) return { status: 'idle' };
    const summary = range.finish();
    const body = buildSealBody({
      prev: prev ? { seal_no: prev.body.seal_no, to: prev.body.to, seal_hash: prev.seal_hash } : undefined,
      range: summary,
      keyId: this.key.keyId,
      sealedAt: (this.options.now?.() ?? new Date()).toISOString(),
    });
    const seal = sealOf(body, summary.tenants, this.key);
    const won = await this.database.db.transaction().execute(async (trx) => {
      const lock = await sql<{ ok: boolean }>`SELECT pg_try_advisory_xact_lock(${SEAL_LOCK[0]}, ${SEAL_LOCK[1]}) AS ok`.execute(trx);
      if (!lock.rows[0]?.ok) return false;
      // Re-read under the lock: another sealer may have written this seal number since we read.
      const current = await lastSeal(trx);
      if ((current?.body.seal_no ?? 0) !== (prev?.body.seal_no ?? 0)) return false;
      await insertSeal(trx, seal);
      return true;
    });
    if (!won) return { status: 'lost_race' };
    this.sealsWritten?.add(1);
    this.eventsSealed?.add(body.event_count);
    return { status: 'sealed', seal };
  }
}
