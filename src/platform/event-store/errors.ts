import type { ExpectedRevision } from './event-store';

/** The stream's revision was not the one the caller expected. Nothing was written. */
export class WrongExpectedRevisionError extends Error {
  readonly code = 'wrong_expected_revision';
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedRevision,
    readonly actual: number | null,
  ) {
    super(`stream ${streamId}: expected revision ${String(expected)}, actual ${actual === null ? 'no stream' : actual}`);
    this.name = 'WrongExpectedRevisionError';
  }
}

/** A command id was reused for a different stream. */
export class CommandIdReusedError extends Error {
  readonly code = 'command_id_reused';
  constructor(
    readonly commandId: string,
    readonly firstStreamId: string,
  ) {
    super(`command id ${commandId} was already used for stream ${firstStreamId}`);
    this.name = 'CommandIdReusedError';
  }
}

/** A stream belongs to one tenant forever. */
export class StreamTenantMismatchError extends Error {
  readonly code = 'stream_tenant_mismatch';
  constructor(
    readonly streamId: string,
    readonly owner: string | null,
    readonly given: string | null,
  ) {
    super(`stream ${streamId} belongs to tenant ${owner ?? '(platform)'}, not ${given ?? '(platform)'}`);
    this.name = 'StreamTenantMismatchError';
  }
}

/** A concurrent append with the same command id won; the caller's transaction must be rolled back. */
export class DuplicateCommandRaceError extends Error {
  readonly code = 'duplicate_command_race';
  constructor(readonly commandId: string) {
    super(`command ${commandId} was appended concurrently`);
    this.name = 'DuplicateCommandRaceError';
  }
}
