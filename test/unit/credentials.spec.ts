import { createHmac } from 'node:crypto';
import { digestsEqual, generateOperatorToken, hashToken, OPERATOR_TOKEN_PREFIX, tokenHint } from '../../src/control-plane/operators/credentials';

const PEPPER = 'p'.repeat(32);

describe('generateOperatorToken', () => {
  it('starts with the operator prefix followed by 32 random bytes in base64url', () => {
    const token = generateOperatorToken();
    expect(OPERATOR_TOKEN_PREFIX).toBe('aio_admin_');
    expect(token.startsWith(OPERATOR_TOKEN_PREFIX)).toBe(true);
    const body = token.slice(OPERATOR_TOKEN_PREFIX.length);
    expect(body).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(body, 'base64url')).toHaveLength(32);
  });

  it('generates distinct tokens', () => {
    const tokens = Array.from({ length: 200 }, () => generateOperatorToken());
    expect(new Set(tokens).size).toBe(200);
  });
});

describe('hashToken', () => {
  it('is HMAC-SHA-256(pepper, token) as 64 lowercase hex characters', () => {
    const digest = hashToken(PEPPER, 'aio_admin_abc');
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    expect(digest).toBe(createHmac('sha256', PEPPER).update('aio_admin_abc').digest('hex'));
  });

  it('is deterministic for the same pepper and token', () => {
    expect(hashToken(PEPPER, 'tok')).toBe(hashToken(PEPPER, 'tok'));
  });

  it('depends on the pepper', () => {
    expect(hashToken(PEPPER, 'tok')).not.toBe(hashToken('q'.repeat(32), 'tok'));
  });

  it('depends on the token', () => {
    expect(hashToken(PEPPER, 'tok1')).not.toBe(hashToken(PEPPER, 'tok2'));
  });
});

describe('digestsEqual', () => {
  const d1 = hashToken(PEPPER, 'one');
  const d2 = hashToken(PEPPER, 'two');

  it('is true for equal digests', () => {
    expect(digestsEqual(d1, d1)).toBe(true);
    expect(digestsEqual(d1, hashToken(PEPPER, 'one'))).toBe(true);
  });

  it('is false for different digests of the same length', () => {
    expect(digestsEqual(d1, d2)).toBe(false);
    const lastFlipped = d1.slice(0, -1) + (d1.endsWith('0') ? '1' : '0');
    expect(digestsEqual(d1, lastFlipped)).toBe(false);
  });

  it('is false for digests of different lengths (whole bytes)', () => {
    expect(digestsEqual(d1, d1.slice(0, -2))).toBe(false);
    expect(digestsEqual(d1.slice(0, -2), d1)).toBe(false);
    expect(digestsEqual(d1, `${d1}00`)).toBe(false);
  });

  it('is false for strings of different lengths even when one has a trailing half byte', () => {
    expect(digestsEqual(d1, `${d1}0`)).toBe(false);
    expect(digestsEqual(`${d1}f`, d1)).toBe(false);
  });

  it('is false for empty input', () => {
    expect(digestsEqual('', '')).toBe(false);
    expect(digestsEqual(d1, '')).toBe(false);
  });
});

describe('tokenHint', () => {
  it('shows the prefix and the last 4 characters only', () => {
    const token = generateOperatorToken();
    const hint = tokenHint(token);
    expect(hint).toBe(`aio_admin_…${token.slice(-4)}`);
    const secret = token.slice(OPERATOR_TOKEN_PREFIX.length, -4);
    expect(hint).not.toContain(secret.slice(0, 8));
  });

  it('omits the prefix for a token without it', () => {
    expect(tokenHint('some-other-token-WXYZ')).toBe('…WXYZ');
  });
});
