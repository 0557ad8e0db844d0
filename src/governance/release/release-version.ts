/**
 * What names a release (runbooks/release.md): a semantic version (`1.4.0`, `v1.4.0-rc.1`,
 * `1.4.0+build.7`) or a git commit id (7 to 40 lowercase hex characters: what CI uses for a
 * staging snapshot). Matched exactly: `v1.4.0` and `1.4.0` are two releases.
 */
const SEMVER = /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;
const COMMIT = /^[0-9a-f]{7,40}$/;

export const RELEASE_VERSION_RULE = 'a semantic version (1.4.0, v1.4.0-rc.1, 1.4.0+build.7) or a git commit id (7-40 lowercase hex characters)';

export function isReleaseVersion(value: string): boolean {
  return value.length <= 100 && (SEMVER.test(value) || COMMIT.test(value));
}

/** The event stream of a release's decisions. */
export const releaseStreamId = (release: string): string => `release-${release}`;
