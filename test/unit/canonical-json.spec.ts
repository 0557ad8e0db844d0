import { createHash } from 'node:crypto';
import { canonicalJson, sha256Hex } from '../../src/platform/event-store/canonical-json';

describe('canonicalJson', () => {
  describe('object keys', () => {
    it('does not depend on key insertion order', () => {
      const a = canonicalJson({ b: 1, a: 2, c: { y: true, x: false } });
      const b = canonicalJson({ c: { x: false, y: true }, a: 2, b: 1 });
      expect(a).toBe(b);
      expect(a).toBe('{"a":2,"b":1,"c":{"x":false,"y":true}}');
    });

    it('sorts keys as strings, not numerically (integer-like keys included)', () => {
      expect(canonicalJson({ 9: 'nine', 10: 'ten', b: 0, A: 0 })).toBe('{"10":"ten","9":"nine","A":0,"b":0}');
    });

    it('sorts keys by UTF-16 code units, as documented (RFC 8785): an astral emoji before U+FF61', () => {
      // By code point U+FF61 < U+1F600, but the emoji's first code unit (0xD83D) is below 0xFF61.
      const emoji = '\u{1F600}';
      const halfwidth = '\uFF61';
      expect(canonicalJson({ [halfwidth]: 2, [emoji]: 1 })).toBe(`{"${emoji}":1,"${halfwidth}":2}`);
    });

    it('drops members whose value is undefined', () => {
      expect(canonicalJson({ a: undefined, b: 1, c: { d: undefined } })).toBe('{"b":1,"c":{}}');
    });

    it('escapes keys', () => {
      expect(canonicalJson({ 'a"b\\c\n': 1 })).toBe('{"a\\"b\\\\c\\n":1}');
    });
  });

  describe('arrays and nesting', () => {
    it('keeps array order and sorts objects inside arrays', () => {
      expect(canonicalJson([3, 1, 2, { z: 1, a: [{ y: null, x: 'x' }] }])).toBe('[3,1,2,{"a":[{"x":"x","y":null}],"z":1}]');
    });

    it('encodes undefined array elements as null (like JSON.stringify)', () => {
      expect(canonicalJson([1, undefined, 2])).toBe('[1,null,2]');
    });

    it('handles empty containers and deep nesting', () => {
      expect(canonicalJson({ e: [], o: {}, n: [[[{ k: [[]] }]]] })).toBe('{"e":[],"n":[[[{"k":[[]]}]]],"o":{}}');
    });

    it('writes no whitespace and round-trips through JSON.parse', () => {
      const value = { name: 'x y', list: [1, 2.5, -3e-7, true, false, null], nested: { 'key with space': 'v' } };
      const out = canonicalJson(value);
      expect(out).not.toMatch(/[\n\t]|: |, /);
      expect(JSON.parse(out)).toStrictEqual(value);
    });
  });

  describe('scalars', () => {
    it('encodes primitives', () => {
      expect(canonicalJson(null)).toBe('null');
      expect(canonicalJson(true)).toBe('true');
      expect(canonicalJson(false)).toBe('false');
      expect(canonicalJson(0)).toBe('0');
      expect(canonicalJson(-1.5)).toBe('-1.5');
      expect(canonicalJson(12345678901234567890n)).toBe('12345678901234567890');
    });

    it('encodes a Date as its ISO string', () => {
      expect(canonicalJson({ at: new Date('2026-01-01T00:00:00.000Z') })).toBe('{"at":"2026-01-01T00:00:00.000Z"}');
    });

    it('escapes strings', () => {
      expect(canonicalJson('say "hi"\\')).toBe('"say \\"hi\\"\\\\"');
      expect(canonicalJson('line1\nline2\ttab\r')).toBe('"line1\\nline2\\ttab\\r"');
      expect(canonicalJson('\u0001\u001f')).toBe('"\\u0001\\u001f"');
      expect(canonicalJson('héllo ✓ \u{1F600}')).toBe('"héllo ✓ \u{1F600}"');
      for (const s of ['"', '\\', '\u0000', '</script>', '\u2028']) expect(JSON.parse(canonicalJson(s))).toBe(s);
    });

    it.each([NaN, Infinity, -Infinity])('rejects the non-finite number %p, also when nested', (n) => {
      expect(() => canonicalJson(n)).toThrow(TypeError);
      expect(() => canonicalJson({ a: [1, { b: n }] })).toThrow(/non-finite/);
    });

    it('rejects values JSON cannot represent', () => {
      expect(() => canonicalJson({ f: () => 1 })).toThrow(TypeError);
      expect(() => canonicalJson(Symbol('s'))).toThrow(TypeError);
      expect(() => canonicalJson(undefined)).toThrow(TypeError);
    });
  });
});

describe('sha256Hex', () => {
  it('matches the standard test vector', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('hashes the UTF-8 bytes of the string', () => {
    expect(sha256Hex('é')).toBe(createHash('sha256').update(Buffer.from([0xc3, 0xa9])).digest('hex'));
  });
});
