import { artifactLinkReasons } from '../../src/governance/release/release-decision';
import { buildChecks, type BuildRecord, governanceChecks, type GovernanceState, isSummaryPath, sbomOutcome } from '../../src/governance/release/release-evidence';
import { isReleaseVersion, releaseStreamId } from '../../src/governance/release/release-version';

const codes = (urls: string[]) => artifactLinkReasons(urls).map((r) => r.code);

describe('release names', () => {
  it('accepts semantic versions and commit ids, nothing else', () => {
    for (const ok of ['1.4.0', 'v1.4.0', '0.0.1', '1.4.0-rc.1', '1.4.0+build.7', '2.0.0-alpha-2.x+sha.abc', 'abc1234', '059ea7948b5f1c8cf6ffc2d1c12c0a45e32b8918']) expect([ok, isReleaseVersion(ok)]).toEqual([ok, true]);
    for (const bad of ['', 'latest', '1.4', '01.4.0', '1.4.0-', 'abc123', 'ABC1234', '059ea7948b5f1c8cf6ffc2d1c12c0a45e32b8918a', '1.4.0 ', '../1.4.0', '1.4.0/x']) expect([bad, isReleaseVersion(bad)]).toEqual([bad, false]);
    expect(releaseStreamId('1.4.0')).toBe('release-1.4.0');
  });
});

describe('artefact links (the plan: "rollout decisions require artifact links, not screenshots")', () => {
  it('needs at least one http(s) link that is not an image', () => {
    expect(codes([])).toEqual(['no_artifact_links']);
    expect(codes(['https://ci.example.com/runs/1'])).toEqual([]);
    expect(codes(['http://ci.internal/runs/1', 'https://img.example.com/a.png'])).toEqual([]);
    expect(codes(['https://img.example.com/a.png', 'https://img.example.com/b.JPEG?x=1', 'https://x.example/c.gif#f'])).toEqual(['artifact_links_screenshots_only']);
    // The image test looks at the path, not at a query string that mentions one.
    expect(codes(['https://ci.example.com/view?file=a.png'])).toEqual([]);
  });

  it('refuses file:, other schemes, relative paths and credentials', () => {
    expect(codes(['file:///tmp/evidence'])).toEqual(['artifact_url_invalid']);
    expect(codes(['javascript:alert(1)'])).toEqual(['artifact_url_invalid']);
    expect(codes(['ftp://files.example.com/x'])).toEqual(['artifact_url_invalid']);
    expect(codes(['./release-evidence'])).toEqual(['artifact_url_invalid']);
    expect(codes(['https://user:pw@ci.example.com/x'])).toEqual(['artifact_url_invalid']);
    // One bad link refuses the decision even with a good one beside it: the record must hold only real links.
    expect(codes(['https://ci.example.com/runs/1', 'file:///etc/passwd'])).toEqual(['artifact_url_invalid']);
  });
});

describe('release evidence checks', () => {
  const state = (over: Partial<GovernanceState> = {}): GovernanceState => ({
    schema: 'aionis-release-governance-state/1',
    log_position: '1:1',
    latest_weekly_report: null,
    dead_letters: { outbox_open: 0, outbox_by_tenant: [], projection_parked: 0, projection_by_projection: [] },
    projections: [],
    ...over,
  });
  const weekly = (status: string) => ({ bundle_id: 'a'.repeat(64), week: '2026-W48', status, report_id: 'r', archived_at: '2026-11-30T00:00:00.000Z', log_position: '1:1' });

  it('a failed governance weekly report is an error (an error-level failure never passes), none yet only a warning', () => {
    expect(governanceChecks(state())[0]).toMatchObject({ name: 'governance_weekly_report', severity: 'warning', pass: false });
    expect(governanceChecks(state({ latest_weekly_report: weekly('failed') }))[0]).toMatchObject({ severity: 'error', pass: false });
    expect(governanceChecks(state({ latest_weekly_report: weekly('passed_with_warnings') }))[0]).toMatchObject({ pass: true });
  });

  it('the build must be the server\'s; a skipped build is a failed warning, never silent', () => {
    const build: BuildRecord = { schema: 'aionis-release-build/1', release: '1.4.0', name: 'aionis-hosted', version: '1.4.0', commit: 'c1', node: 'v20', platform: 'linux-x64', created_at: '', skip_build: true, skipped_steps: ['typecheck', 'build'], server: { version: '1.4.0', commit: 'c1' } };
    expect(buildChecks(build).map((c) => [c.name, c.severity, c.pass])).toEqual([
      ['build_matches_server', 'error', true],
      ['build_not_skipped', 'warning', false],
    ]);
    expect(buildChecks({ ...build, server: { version: '1.4.0', commit: 'c2' } })[0]).toMatchObject({ severity: 'error', pass: false });
    expect(buildChecks({ ...build, server: null })[0]).toMatchObject({ severity: 'error', pass: false });
    expect(buildChecks({ ...build, commit: 'unknown' })[0]).toMatchObject({ severity: 'warning', pass: false });
  });

  it('an npm sbom failure becomes sbom-error.json and a failed error check, not a missing file', () => {
    const failed = sbomOutcome({ command: 'npm sbom', exitCode: 1, signal: null, stdout: '', stderr: 'npm error code ELSPROBLEMS\n', error: null });
    expect(failed).toMatchObject({ ok: false, file: { path: 'sbom-error.json' }, check: { name: 'sbom_generated', severity: 'error', pass: false } });
    expect(JSON.parse(failed.file.content.toString('utf8'))).toMatchObject({ ok: false, exit_code: 1, stderr_tail: 'npm error code ELSPROBLEMS' });
    expect(sbomOutcome({ command: 'npm sbom', exitCode: 0, signal: null, stdout: '{"nope":1}', stderr: '', error: null }).ok).toBe(false);
    const ok = sbomOutcome({ command: 'npm sbom', exitCode: 0, signal: null, stdout: '{"bomFormat":"CycloneDX","components":[{},{}]}', stderr: '', error: null });
    expect(ok).toMatchObject({ ok: true, components: 2, file: { path: 'sbom.cdx.json' }, check: { pass: true } });
  });

  it('summary files are the root summary.json and every <gate>/summary.json', () => {
    expect(['summary.json', 'gates/preflight/summary.json', 'gates/x/summary.json.bak', 'gates/not-a-summary.json', 'xsummary.json'].map(isSummaryPath)).toEqual([true, true, false, false, false]);
  });
});
