import fc from 'fast-check';
import { AppError } from '../../src/platform/errors/app-error';
import { afterIdCursor, afterUuidCursor, auditCursor, commitSeqCursor } from '../../src/platform/http/cursor';

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v), 'utf8').toString('base64url');
const refused = (f: () => unknown): string | undefined => {
  try {
    f();
    return undefined;
  } catch (err) {
    return err instanceof AppError ? `${err.code} ${err.details.errors?.[0]?.field}` : `not an AppError: ${String(err)}`;
  }
};

describe('the cursor codec', () => {
  it('decodes what it encodes, for every kind', () => {
    expect(afterIdCursor.decode(afterIdCursor.encode({ after: 'acme' }))).toEqual({ after: 'acme' });
    expect(auditCursor.decode(auditCursor.encode({ tx: '812', gp: '33' }))).toEqual({ tx: '812', gp: '33' });
    expect(commitSeqCursor.decode(commitSeqCursor.encode({ seq: '7' }))).toEqual({ seq: '7' });
    const id = '0b9f7a4e-52a1-4c3e-9a55-0c2b5f4c8d11';
    expect(afterUuidCursor.decode(afterUuidCursor.encode({ after: id }))).toEqual({ after: id });
  });

  it('reads the cursors issued before the codec (same JSON, no kind marker)', () => {
    expect(auditCursor.decode(b64({ tx: '1', gp: '2' }))).toEqual({ tx: '1', gp: '2' });
  });

  it.each([
    ['NUL in an id', () => afterIdCursor.decode(b64({ after: 'a\u0000b' }))],
    ['an empty id', () => afterIdCursor.decode(b64({ after: '' }))],
    ['a number for an id', () => afterIdCursor.decode(b64({ after: 42 }))],
    ['an unknown key', () => afterIdCursor.decode(b64({ after: 'a', x: 1 }))],
    ['a non-numeric position', () => auditCursor.decode(b64({ tx: 'abc', gp: 'x' }))],
    ['a negative position', () => commitSeqCursor.decode(b64({ seq: '-1' }))],
    ['a position past 2^53', () => commitSeqCursor.decode(b64({ seq: '9007199254740993' }))],
    ['a missing key', () => auditCursor.decode(b64({ tx: '1' }))],
    ['not a uuid', () => afterUuidCursor.decode(b64({ after: 'zz' }))],
    ['an array', () => afterIdCursor.decode(b64([]))],
    ['not JSON', () => afterIdCursor.decode(Buffer.from('{"after":').toString('base64url'))],
    ['invalid UTF-8', () => afterIdCursor.decode(Buffer.from([0xc3, 0x28]).toString('base64url'))],
    ['not base64url', () => afterIdCursor.decode('a b')],
  ])('refuses %s with validation_failed on query.cursor', (_what, decode) => {
    expect(refused(decode)).toBe('validation_failed query.cursor');
  });

  it('property: any string is either a valid cursor or a validation_failed, never another error', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }).map((s) => Buffer.from(s).toString('base64url')), fc.json().map((j) => Buffer.from(j).toString('base64url'))), (s) => {
        for (const codec of [afterIdCursor, auditCursor, commitSeqCursor, afterUuidCursor]) {
          const r = refused(() => codec.decode(s));
          if (r !== undefined) expect(r).toBe('validation_failed query.cursor');
        }
      }),
    );
  });
});
