import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { parseSealPublicKey } from '../../platform/config/seal-key';
import { findBundle, listBundles, verifyBundle, verifyChain } from '../../governance/evidence/bundles';
import { FilesystemEvidenceStore } from '../../governance/evidence/evidence-store';
import { BUNDLE_KINDS, type BundleFinding, type BundleKind } from '../../governance/evidence/manifest';
import { type CliSpec, EXIT, parseCli, runCli, UsageError } from './cli-support';

/**
 * `npm run -s evidence:verify -- PATH|ID|--all [--archive DIR] [--public-key FILE] [--json]`
 * Offline (no database): verifies a bundle's signature, every file's hash and size, and the chain
 * of bundles of its kind in the archive (docs/evidence.md). PATH is a bundle directory; ID a
 * bundle id (or a prefix of 8+ hex characters) looked up in --archive (default ARCHIVE_DIR, else
 * DATA_DIR/archive). Exit 0 verified, 2 not verified, 1 usage errors.
 */
const SPEC: CliSpec = {
  name: 'evidence:verify',
  description: "Offline: verify a bundle's signature, every file's hash and size, and the chain of bundles of its kind in the archive. Exit 2 not verified.",
  args: [['[ref]', 'a bundle directory (<archive>/<kind>/<id>), or a bundle id (or a prefix of 8+ hex characters)']],
  options: [
    ['--all', 'every bundle in the archive'],
    ['--archive <dir>', 'the archive (default ARCHIVE_DIR, else DATA_DIR/archive)'],
    ['--public-key <file>', 'the signing key to pin (PEM or base64)'],
  ],
};

void runCli(async () => {
  const flags = parseCli(SPEC);
  const json = flags.json;
  const all = flags.values.all === true;
  let archiveDir = typeof flags.values.archive === 'string' ? flags.values.archive : (process.env.ARCHIVE_DIR ?? join(process.env.DATA_DIR ?? './.data', 'archive'));
  const keyFile = typeof flags.values['public-key'] === 'string' ? flags.values['public-key'] : undefined;
  const refs = flags.args;
  if ((all ? 1 : 0) + refs.length !== 1 || !archiveDir) throw new UsageError('give one bundle PATH or ID, or --all');
  let pinned: KeyObject | undefined;
  if (keyFile) {
    try {
      pinned = parseSealPublicKey(await readFile(keyFile, 'utf8'));
    } catch (err) {
      throw new UsageError(`--public-key ${keyFile}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const ref = refs[0];
  let target: { kind: BundleKind; id: string } | undefined;
  if (ref !== undefined) {
    const isDir = await stat(ref).then((s) => s.isDirectory(), () => false);
    if (isDir) {
      const dir = resolve(ref);
      const kind = basename(dirname(dir)) as BundleKind;
      if (!BUNDLE_KINDS.includes(kind)) throw new UsageError(`${ref} is not a bundle directory (<archive>/<kind>/<id>)`);
      archiveDir = dirname(dirname(dir));
      target = { kind, id: basename(dir) };
    } else {
      const found = await findBundle(new FilesystemEvidenceStore(archiveDir), ref);
      if (!found) throw new UsageError(`no bundle ${ref} in ${archiveDir}`);
      target = { kind: found.kind, id: found.id };
    }
  }
  const store = new FilesystemEvidenceStore(archiveDir);
  const findings: BundleFinding[] = [];
  const bundles = await listBundles(store, target?.kind);
  const toVerify = target ? [target] : bundles.map((b) => ({ kind: b.kind, id: b.id }));
  for (const b of toVerify) findings.push(...(await verifyBundle(store, b.kind, b.id, pinned)));
  findings.push(...verifyChain(bundles));
  const ok = findings.length === 0;
  const summary = { ok, archive: store.location, key_pinned: pinned !== undefined, bundles_verified: toVerify.length, chain_length: bundles.length, target: target ?? null, findings };
  if (json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  else {
    process.stdout.write(ok ? `verified: ${toVerify.length} bundle(s), chain of ${bundles.length} intact${pinned ? ', signatures checked against the pinned key' : ' (signing key not pinned: pass --public-key to check it is the deployment\'s)'}\n` : `NOT VERIFIED (${findings.length} finding(s)):\n`);
    for (const f of findings) process.stdout.write(`  ${f.check}: ${f.detail} [bundle ${f.bundle.slice(0, 16)}]\n`);
  }
  return ok ? EXIT.ok : EXIT.gateFailed;
});
