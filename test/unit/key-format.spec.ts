import { createHash } from 'node:crypto';
import { displayOf, generateApiKey, hashSecret, newKeyId, parseApiKey } from '../../src/control-plane/api-keys/key-format';

const LIVE_KEY = /^aio_live_k[a-z2-7]{19}_[A-Za-z0-9_-]{43}[0-9a-f]{8}$/;
/** Every character that may appear anywhere in a key. */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';

/** Independent re-statement of the documented checksum: first 8 hex chars of SHA-256 over the body. */
const checksum = (body: string): string => createHash('sha256').update(body, 'utf8').digest('hex').slice(0, 8);
const withChecksum = (body: string): string => `${body}${checksum(body)}`;

/** A fixed, well-formed key (deterministic, so the mutation test below is too). */
const FIXED_KEY_ID = 'kabcdefghijklmnopq27';
const FIXED_SECRET = 'AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_xYz1'; // 42 chars, one more below
const FIXED_SECRET_43 = `${FIXED_SECRET}Q`;
const FIXED = withChecksum(`aio_live_${FIXED_KEY_ID}_${FIXED_SECRET_43}`);

describe('key format', () => {
  it('the fixed fixture is itself a valid key (sanity check of the test data)', () => {
    expect(FIXED_SECRET_43).toHaveLength(43);
    expect(FIXED).toMatch(LIVE_KEY);
    expect(parseApiKey(FIXED)).toStrictEqual({ env: 'live', keyId: FIXED_KEY_ID, secret: FIXED_SECRET_43 });
  });

  describe('generateApiKey', () => {
    it('generates live keys in the documented format, with the documented checksum', () => {
      for (let i = 0; i < 50; i++) {
        const { token, keyId, secret } = generateApiKey();
        expect(token).toMatch(LIVE_KEY);
        expect(token).toHaveLength(81);
        expect(token).toBe(withChecksum(`aio_live_${keyId}_${secret}`));
        expect(Buffer.from(secret, 'base64url')).toHaveLength(32);
      }
    });

    it('generates unique tokens, key ids and secrets', () => {
      const keys = Array.from({ length: 500 }, () => generateApiKey());
      expect(new Set(keys.map((k) => k.token)).size).toBe(500);
      expect(new Set(keys.map((k) => k.keyId)).size).toBe(500);
      expect(new Set(keys.map((k) => k.secret)).size).toBe(500);
    });

    it('parses back to its env, key id and secret', () => {
      for (let i = 0; i < 50; i++) {
        const { token, keyId, secret } = generateApiKey();
        expect(parseApiKey(token)).toStrictEqual({ env: 'live', keyId, secret });
      }
    });

    it('uses a given key id', () => {
      const { token, keyId } = generateApiKey('live', FIXED_KEY_ID);
      expect(keyId).toBe(FIXED_KEY_ID);
      expect(token.startsWith(`aio_live_${FIXED_KEY_ID}_`)).toBe(true);
      expect(parseApiKey(token)?.keyId).toBe(FIXED_KEY_ID);
    });

    it('generates test keys that parse with env test', () => {
      const { token, keyId, secret } = generateApiKey('test');
      expect(token).toMatch(/^aio_test_k[a-z2-7]{19}_[A-Za-z0-9_-]{43}[0-9a-f]{8}$/);
      expect(parseApiKey(token)).toStrictEqual({ env: 'test', keyId, secret });
    });
  });

  describe('newKeyId', () => {
    it('is k + 19 base32 characters, and unique', () => {
      const ids = Array.from({ length: 500 }, () => newKeyId());
      for (const id of ids) expect(id).toMatch(/^k[a-z2-7]{19}$/);
      expect(new Set(ids).size).toBe(500);
    });
  });

  describe('parseApiKey', () => {
    /** Every single-character substitution of `token`, with any character a key may contain. */
    function* mutations(token: string): Generator<{ pos: number; ch: string; mutated: string }> {
      for (let pos = 0; pos < token.length; pos++) {
        for (const ch of ALPHABET) {
          if (ch === token[pos]) continue;
          yield { pos, ch, mutated: token.slice(0, pos) + ch + token.slice(pos + 1) };
        }
      }
    }

    it('rejects every single-character change at every position of a fixed key', () => {
      const original = parseApiKey(FIXED);
      const accepted: string[] = [];
      let tried = 0;
      for (const { pos, ch, mutated } of mutations(FIXED)) {
        tried++;
        const parsed = parseApiKey(mutated);
        // A mutation may only ever parse to something else; with the checksum it should not parse at all.
        if (parsed !== null) accepted.push(`pos ${pos} -> ${ch}: ${JSON.stringify(parsed)}`);
        expect(parsed).not.toStrictEqual(original);
      }
      expect(tried).toBe(81 * (ALPHABET.length - 1));
      expect(accepted).toStrictEqual([]);
    });

    it('rejects every single-character change at every position of a generated key', () => {
      const { token } = generateApiKey();
      const original = parseApiKey(token);
      expect(original).not.toBeNull();
      const accepted: string[] = [];
      for (const { pos, ch, mutated } of mutations(token)) {
        const parsed = parseApiKey(mutated);
        expect(parsed).not.toStrictEqual(original);
        if (parsed !== null) accepted.push(`pos ${pos} -> ${ch}`);
      }
      expect(accepted).toStrictEqual([]);
    });

    it('rejects a wrong checksum even when everything else is well formed', () => {
      const body = FIXED.slice(0, -8);
      const good = FIXED.slice(-8);
      const bad = good === '00000000' ? '00000001' : '00000000';
      expect(parseApiKey(body + bad)).toBeNull();
    });

    it('rejects truncated keys', () => {
      for (let n = 0; n < FIXED.length; n++) expect(parseApiKey(FIXED.slice(0, n))).toBeNull();
      expect(parseApiKey(FIXED.slice(1))).toBeNull();
    });

    it('rejects extended keys, even with a recomputed checksum', () => {
      expect(parseApiKey(`${FIXED}a`)).toBeNull();
      expect(parseApiKey(`${FIXED}0`)).toBeNull();
      expect(parseApiKey(`a${FIXED}`)).toBeNull();
      expect(parseApiKey(`${FIXED} `)).toBeNull();
      expect(parseApiKey(` ${FIXED}`)).toBeNull();
      expect(parseApiKey(withChecksum(`aio_live_${FIXED_KEY_ID}_${FIXED_SECRET_43}A`))).toBeNull();
      expect(parseApiKey(withChecksum(`aio_live_${FIXED_KEY_ID}a_${FIXED_SECRET_43}`))).toBeNull();
    });

    it('rejects a shortened secret or key id, even with a recomputed checksum', () => {
      expect(parseApiKey(withChecksum(`aio_live_${FIXED_KEY_ID}_${FIXED_SECRET}`))).toBeNull();
      expect(parseApiKey(withChecksum(`aio_live_${FIXED_KEY_ID.slice(0, -1)}_${FIXED_SECRET_43}a`))).toBeNull();
    });

    it('rejects a wrong prefix or env, even with a valid checksum and the right length', () => {
      for (const prefix of ['aio_prod_', 'aio_LIVE_', 'aix_live_', 'AIO_live_', 'aio-live_', 'aio_tst_x', 'sk__live_']) {
        expect(prefix).toHaveLength(9);
        const token = withChecksum(`${prefix}${FIXED_KEY_ID}_${FIXED_SECRET_43}`);
        expect(token).toHaveLength(81);
        expect(parseApiKey(token)).toBeNull();
      }
    });

    it('rejects a key id that does not start with k or has non-base32 characters, even with a valid checksum', () => {
      expect(parseApiKey(withChecksum(`aio_live_x${FIXED_KEY_ID.slice(1)}_${FIXED_SECRET_43}`))).toBeNull();
      expect(parseApiKey(withChecksum(`aio_live_k${'1'.repeat(19)}_${FIXED_SECRET_43}`))).toBeNull();
      expect(parseApiKey(withChecksum(`aio_live_k${'A'.repeat(19)}_${FIXED_SECRET_43}`))).toBeNull();
    });

    it('rejects an upper-case checksum', () => {
      const body = `aio_live_${FIXED_KEY_ID}_${FIXED_SECRET_43}`;
      const sum = checksum(body);
      expect(sum).toMatch(/[a-f]/); // the fixture's checksum has letters, so upper-casing changes it
      expect(parseApiKey(body + sum)).not.toBeNull();
      expect(parseApiKey(body + sum.toUpperCase())).toBeNull();
    });

    it('parses a test key built by hand', () => {
      expect(parseApiKey(withChecksum(`aio_test_${FIXED_KEY_ID}_${FIXED_SECRET_43}`))).toStrictEqual({ env: 'test', keyId: FIXED_KEY_ID, secret: FIXED_SECRET_43 });
    });

    it('rejects the empty string and other junk', () => {
      for (const junk of ['', 'aio_live_', 'Bearer x', 'x'.repeat(81), ' '.repeat(81)]) expect(parseApiKey(junk)).toBeNull();
    });
  });

  describe('hashSecret', () => {
    it('is a 64-hex-character digest, stable for the same pepper and secret', () => {
      const h = hashSecret('pepper-1', FIXED_SECRET_43);
      expect(h).toMatch(/^[0-9a-f]{64}$/);
      expect(hashSecret('pepper-1', FIXED_SECRET_43)).toBe(h);
    });

    it('depends on the pepper', () => {
      expect(hashSecret('pepper-1', FIXED_SECRET_43)).not.toBe(hashSecret('pepper-2', FIXED_SECRET_43));
      expect(hashSecret('', FIXED_SECRET_43)).not.toBe(hashSecret('pepper-1', FIXED_SECRET_43));
    });

    it('depends on the secret', () => {
      expect(hashSecret('pepper-1', FIXED_SECRET_43)).not.toBe(hashSecret('pepper-1', `${FIXED_SECRET}R`));
    });

    it('is not a plain (unpeppered) SHA-256 of the secret and does not contain it', () => {
      const h = hashSecret('pepper-1', FIXED_SECRET_43);
      expect(h).not.toBe(createHash('sha256').update(FIXED_SECRET_43).digest('hex'));
      expect(h).not.toContain(FIXED_SECRET_43);
    });
  });

  describe('displayOf', () => {
    it('shows the prefix with the key id and the last 4 characters only', () => {
      expect(displayOf(FIXED)).toBe(`aio_live_${FIXED_KEY_ID}_…${FIXED.slice(-4)}`);
    });

    it('never shows the secret, for generated live and test keys', () => {
      for (let i = 0; i < 100; i++) {
        const { token, keyId, secret } = generateApiKey(i % 2 === 0 ? 'live' : 'test');
        const d = displayOf(token);
        const env = i % 2 === 0 ? 'live' : 'test';
        expect(d).toBe(`aio_${env}_${keyId}_…${token.slice(-4)}`);
        expect(d).toHaveLength(35);
        // Nothing after the key id but the ellipsis and the last 4 characters (which are checksum, not secret).
        expect(d.slice(`aio_${env}_${keyId}`.length)).toBe(`_…${token.slice(-4)}`);
        expect(token.slice(-4)).toBe(token.slice(-8).slice(4));
        expect(d).not.toContain(secret);
        for (let j = 0; j + 5 <= secret.length; j++) {
          // No 5-character run of the secret appears outside the key-id part of the display.
          expect(d.slice(9 + keyId.length)).not.toContain(secret.slice(j, j + 5));
        }
      }
    });

    it('falls back to aio_… and the last 4 characters for something that is not a key', () => {
      expect(displayOf('garbage-token-1234')).toBe('aio_…1234');
    });
  });
});
