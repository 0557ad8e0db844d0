import {
  conditionMatches,
  conditionPaths,
  DEFAULT_LIMITS,
  jsonKey,
  MAX_DEPTH,
  matches,
  REGEX_MAX_PATTERN,
  REGEX_MAX_SUBJECT,
  regexTest,
  sameJson,
} from '../../src/data-plane/memory/policy/pattern';

/** Given a pattern and a value, when matched within the default budget, then the boolean result. */
const m = (pattern: unknown, value: unknown): boolean => matches(pattern, value).matched;

describe('policy pattern language (contract §5.5)', () => {
  describe('operators: an object with exactly one $-key', () => {
    it('$eq / $ne use strict deep equality', () => {
      expect(m({ $eq: { a: [1, { b: 2 }] } }, { a: [1, { b: 2 }] })).toBe(true);
      expect(m({ $eq: 1 }, '1')).toBe(false);
      expect(m({ $eq: true }, 1)).toBe(false);
      expect(m({ $ne: 'x' }, 'y')).toBe(true);
      expect(m({ $ne: [1, 2] }, [1, 2])).toBe(false);
    });

    it('$exists: a truthy operand wants a defined value (null exists), a falsy one an absent value', () => {
      expect(m({ a: { $exists: true } }, { a: null })).toBe(true);
      expect(m({ a: { $exists: true } }, {})).toBe(false);
      expect(m({ a: { $exists: false } }, {})).toBe(true);
      expect(m({ a: { $exists: false } }, { a: 0 })).toBe(false);
    });

    it('$in / $nin need an array operand (otherwise both are false)', () => {
      expect(m({ $in: ['a', { b: 1 }] }, { b: 1 })).toBe(true);
      expect(m({ $in: ['a'] }, 'b')).toBe(false);
      expect(m({ $nin: ['a'] }, 'b')).toBe(true);
      expect(m({ $nin: ['a'] }, 'a')).toBe(false);
      expect(m({ $in: 'abc' }, 'a')).toBe(false);
      expect(m({ $nin: 'abc' }, 'z')).toBe(false);
    });

    it('$gt, $gte, $lt, $lte: the value must be a number, the operand is read as a number', () => {
      expect(m({ $gt: 5 }, 6)).toBe(true);
      expect(m({ $gt: 5 }, 5)).toBe(false);
      expect(m({ $gte: 5 }, 5)).toBe(true);
      expect(m({ $lt: '10' }, 9)).toBe(true);
      expect(m({ $lte: 9 }, 9)).toBe(true);
      expect(m({ $gt: 1 }, '5')).toBe(false);
      expect(m({ $lt: { x: 1 } }, 0)).toBe(false);
      expect(m({ $gte: null }, 0)).toBe(true);
    });

    it('$contains: substring for two strings, deep-equal element for an array value, else false', () => {
      expect(m({ $contains: 'ook' }, 'booking')).toBe(true);
      expect(m({ $contains: 'x' }, 'booking')).toBe(false);
      expect(m({ $contains: { id: 2 } }, [{ id: 1 }, { id: 2 }])).toBe(true);
      expect(m({ $contains: 3 }, [1, 2])).toBe(false);
      expect(m({ $contains: 'a' }, { a: 1 })).toBe(false);
      expect(m({ $contains: 1 }, 'a1')).toBe(false);
    });

    it('$regex: a string value, a flagless expression tested anywhere; an invalid one is false', () => {
      expect(m({ $regex: '^book' }, 'booking')).toBe(true);
      expect(m({ $regex: 'ING' }, 'booking')).toBe(false);
      expect(m({ $regex: 'ing$' }, 'booking')).toBe(true);
      expect(m({ $regex: 'a' }, ['a'])).toBe(false);
      expect(m({ $regex: '(' }, '(')).toBe(false);
      expect(m({ $regex: '' }, 'anything')).toBe(false);
      expect(m({ $regex: 5 }, 'v5')).toBe(true);
    });

    it('any other $-key is false', () => {
      expect(m({ $size: 1 }, [1])).toBe(false);
      expect(m({ a: { $where: 'true' } }, { a: 1 })).toBe(false);
    });

    it('two operators in one object are matched literally as keys, so {"$gte":1,"$lte":5} fails on 3 (observed)', () => {
      expect(m({ n: { $gte: 1, $lte: 5 } }, { n: 3 })).toBe(false);
      expect(m({ n: { $gte: 1, $lte: 5 } }, { n: { $gte: 1, $lte: 5 } })).toBe(true);
      expect(m({ n: { $and: [{ $gte: 1 }, { $lte: 5 }] } }, { n: 3 })).toBe(true);
    });
  });

  describe('combinators', () => {
    it('$and needs every element, $or at least one, $not the negation', () => {
      const ctx = { intent: 'booking', n: 3 };
      expect(m({ $and: [{ intent: 'booking' }, { n: { $gt: 2 } }] }, ctx)).toBe(true);
      expect(m({ $and: [{ intent: 'booking' }, { n: { $gt: 3 } }] }, ctx)).toBe(false);
      expect(m({ $or: [{ intent: 'refund' }, { n: 3 }] }, ctx)).toBe(true);
      expect(m({ $or: [] }, ctx)).toBe(false);
      expect(m({ $and: [] }, ctx)).toBe(true);
      expect(m({ $not: { intent: 'refund' } }, ctx)).toBe(true);
      expect(m({ $and: { intent: 'booking' } }, ctx)).toBe(false);
    });

    it('precedence is $and, then $or, then $not; every other key of the object is ignored', () => {
      const ctx = { a: 1 };
      expect(m({ $and: [{ a: 1 }], $or: [{ a: 2 }], $not: { a: 1 } }, ctx)).toBe(true);
      expect(m({ $or: [{ a: 2 }], $not: { a: 2 } }, ctx)).toBe(false);
      expect(m({ $not: { a: 2 }, a: 999, b: { $exists: true } }, ctx)).toBe(true);
    });
  });

  describe('object patterns and dotted paths', () => {
    it('each key must match; a dotted key is a path at any level, through arrays too', () => {
      const ctx = { tool: { name: 'search', args: [{ q: 'x' }] }, user: { profile: { tier: 'gold' } } };
      expect(m({ 'tool.name': 'search' }, ctx)).toBe(true);
      expect(m({ user: { 'profile.tier': 'gold' } }, ctx)).toBe(true);
      expect(m({ 'tool.args.0.q': 'x' }, ctx)).toBe(true);
      expect(m({ 'tool.args.length': 1 }, ctx)).toBe(true);
      expect(m({ 'tool.missing.deeper': { $exists: false } }, ctx)).toBe(true);
      expect(m({ 'tool.name.x': { $exists: true } }, ctx)).toBe(false);
    });

    it('reads own properties only: prototype keys never resolve', () => {
      expect(m({ constructor: { $exists: true } }, {})).toBe(false);
      expect(m({ 'a.toString': { $exists: true } }, { a: {} })).toBe(false);
      expect(m({ __proto__x: { $exists: false } }, {})).toBe(true);
    });

    it('an empty object pattern matches anything', () => {
      expect(m({}, { a: 1 })).toBe(true);
      expect(m({}, 'scalar')).toBe(true);
    });
  });

  describe('array patterns: a subset by deep equality', () => {
    it('every element of the pattern is in the value, in any order', () => {
      expect(m({ tags: ['b', 'a'] }, { tags: ['a', 'b', 'c'] })).toBe(true);
      expect(m({ tags: ['d'] }, { tags: ['a'] })).toBe(false);
      expect(m({ tags: [{ k: 1 }] }, { tags: [{ k: 1 }] })).toBe(true);
      expect(m({ tags: [] }, { tags: [] })).toBe(true);
      expect(m({ tags: ['a'] }, { tags: 'a' })).toBe(false);
    });
  });

  describe('deep equality: strict, no coercion', () => {
    it('objects by identical key sets in any order, arrays element by element', () => {
      expect(m({ v: { a: 1, b: [1, 2] } }, { v: { b: [1, 2], a: 1 } })).toBe(true);
      expect(m({ v: { $eq: { a: 1 } } }, { v: { a: 1, b: 2 } })).toBe(false);
      expect(m({ v: { a: 1 } }, { v: { a: 1, b: 2 } })).toBe(true); // an object PATTERN checks its own keys only
      expect(m({ v: null }, { v: {} })).toBe(false);
      expect(m({ v: 0 }, { v: false })).toBe(false);
      expect(m({ v: 'x' }, { v: 'x' })).toBe(true);
      expect(m({ $eq: [1, 2] }, [2, 1])).toBe(false);
    });

    it('jsonKey and sameJson agree with deep equality, at any depth', () => {
      expect(sameJson({ a: 1, b: { c: [1, null] } }, { b: { c: [1, null] }, a: 1 })).toBe(true);
      expect(sameJson([1, 2], [2, 1])).toBe(false);
      let deep: unknown = 'leaf';
      for (let i = 0; i < 50_000; i++) deep = [deep];
      expect(jsonKey(deep).length).toBe(100_000 + '"leaf"'.length);
      const cyclic: { self?: unknown } = {};
      cyclic.self = cyclic;
      expect(jsonKey(cyclic)).toBe('{"self":"<cycle>"}');
    });
  });

  describe('rule conditions (§5.5 step 4)', () => {
    it('given a null or empty if, then the rule matches any context', () => {
      expect(conditionMatches(null, [], { a: 1 }).matched).toBe(true);
      expect(conditionMatches({}, [], {}).matched).toBe(true);
    });

    it('given an exception that matches, then the rule is vetoed', () => {
      expect(conditionMatches({ intent: 'booking' }, [{ provider: 'openai' }], { intent: 'booking', provider: 'openai' }).matched).toBe(false);
      expect(conditionMatches({ intent: 'booking' }, [{ provider: 'openai' }], { intent: 'booking', provider: 'local' }).matched).toBe(true);
      expect(conditionMatches({ intent: 'booking' }, { provider: 'openai' }, { intent: 'booking', provider: 'openai' }).matched).toBe(true);
    });
  });

  describe('bounds: total and bounded', () => {
    it('given a scan larger than the step budget, then it is a non-match reported as exhausted', () => {
      const big = Array.from({ length: 20_000 }, (_, i) => i);
      const r = matches({ xs: { $contains: -1 } }, { xs: big });
      expect(r).toMatchObject({ matched: false, exhausted: true, steps: DEFAULT_LIMITS.steps });
      expect(matches({ xs: { $contains: -1 } }, { xs: big }, { steps: 100_000, regexWork: 1 }).exhausted).toBe(false);
    });

    it('given exhaustion under $not, then the result is still a non-match', () => {
      const big = Array.from({ length: 20_000 }, (_, i) => i);
      expect(matches({ $not: { xs: [-1] } }, { xs: big })).toMatchObject({ matched: false, exhausted: true });
    });

    it('given exhaustion inside an exception, then the rule does not match (no silent "no veto")', () => {
      const big = Array.from({ length: 20_000 }, (_, i) => i);
      expect(conditionMatches({}, [{ xs: [-1] }], { xs: big })).toMatchObject({ matched: false, exhausted: true });
    });

    it('given nesting deeper than MAX_DEPTH, then it is exhausted, never a stack overflow', () => {
      const nest = (): unknown => {
        let deep: unknown = 1;
        for (let i = 0; i < 100_000; i++) deep = [deep];
        return deep;
      };
      expect(matches({ $eq: nest() }, nest())).toMatchObject({ matched: false, exhausted: true });
      let pattern: unknown = { $exists: true };
      for (let i = 0; i < MAX_DEPTH + 10; i++) pattern = { $not: { $not: pattern } };
      expect(matches(pattern, 1).exhausted).toBe(true);
    });

    it('given a cyclic value (impossible in JSON), then matching still terminates', () => {
      const cyclic: Record<string, unknown> = {};
      cyclic.a = cyclic;
      expect(matches({ $eq: cyclic }, cyclic).matched).toBe(true); // identical reference
      const other: Record<string, unknown> = {};
      other.a = other;
      expect(matches({ $eq: other }, cyclic)).toMatchObject({ matched: false, exhausted: true });
    });
  });

  describe('$regex on the linear engine', () => {
    it('agrees with RegExp.test on ordinary patterns', () => {
      const cases: [string, string][] = [
        ['^flight_[a-z]+$', 'flight_search'],
        ['\\bbook', 'a booking'],
        ['\\Bbook', 'a booking'],
        ['colou?r', 'color'],
        ['a{2,3}b', 'aab'],
        ['a{2,3}b', 'ab'],
        ['(?:ab|cd)+e', 'abcde'],
        ['(?<word>\\w+)-\\d{3}', 'x-123'],
        ['[^\\s]+@[\\w.]+', 'mail me at a@b.c'],
        ['[\\d-z]', '-'],
        ['\\x41\\u0042', 'AB'],
        ['a.c', 'a\nc'],
        ['a]b}', 'a]b}'],
        ['x{,2}', 'x{,2}'],
        ['\\p{L}', 'p{L}'],
        ['[a-c]*?d', 'abd'],
        ['^$', ''],
        ['\\s', '\u00a0'],
        ['\\cJ', '\n'],
        ['[\\b]', '\b'],
        ['(a|ab)(c|bcd)(d*)', 'abcd'],
      ];
      for (const [re, s] of cases) expect([re, s, regexTest(re, s)]).toEqual([re, s, new RegExp(re).test(s)]);
    });

    it('given catastrophic-backtracking patterns, then they answer at once', () => {
      const start = Date.now();
      expect(regexTest('(a+)+$', `${'a'.repeat(5000)}b`)).toBe(false);
      expect(regexTest('^(a|a)*$', `${'a'.repeat(5000)}b`)).toBe(false);
      expect(regexTest('(x+x+)+y', 'x'.repeat(4000))).toBe(false);
      expect(m({ $regex: '^(\\w+\\s?)*$' }, `${'word '.repeat(1000)}!`)).toBe(false);
      expect(Date.now() - start).toBeLessThan(1000);
    });

    it('given lookaround, backreferences or legacy octal, then the operator is false and counted as skipped', () => {
      for (const re of ['(?=a)a', '(?!b)a', '(?<=a)b', '(a)\\1', '(?<n>a)\\k<n>', '\\01']) {
        expect(regexTest(re, 'aab')).toBe('skipped');
      }
      expect(matches({ $regex: '(a)\\1' }, 'aa')).toMatchObject({ matched: false, exhausted: false, regexSkipped: 1 });
    });

    it('given a pattern or subject over the caps, then it is skipped (false), not run', () => {
      expect(regexTest('a'.repeat(REGEX_MAX_PATTERN + 1), 'a')).toBe('skipped');
      expect(regexTest('a', 'a'.repeat(REGEX_MAX_SUBJECT + 1))).toBe('skipped');
      expect(matches({ $regex: 'a' }, 'a'.repeat(REGEX_MAX_SUBJECT + 1))).toMatchObject({ matched: false, regexSkipped: 1 });
      expect(regexTest('(a{1000}){1000}', 'a')).toBe('skipped');
    });

    it('given more regex work than the budget, then the rule is exhausted', () => {
      expect(regexTest('(a|b|c|d)*z', 'abcd'.repeat(2000), 1000)).toBe('exhausted');
      expect(matches({ $regex: '(a|b|c|d)*z' }, 'abcd'.repeat(2000), { steps: 100, regexWork: 1000 })).toMatchObject({ matched: false, exhausted: true, regexWork: 1000 });
    });

    it('given the worst case within the caps, then one regex costs at most the regex work budget', () => {
      const start = Date.now();
      expect(regexTest(`(${'[a-z]?'.repeat(80)})*#`, 'a'.repeat(REGEX_MAX_SUBJECT))).toBe('exhausted');
      expect(Date.now() - start).toBeLessThan(500);
    });
  });

  describe('condition paths (§5.6 specificity)', () => {
    it('given the §2.11 rule, then one path: intent', () => {
      expect(conditionPaths({ intent: 'booking' })).toEqual(['intent']);
    });

    it('paths end at a leaf, an array, an empty object or an operator; distinct and sorted', () => {
      expect(conditionPaths({ z: 1, a: { b: [1], c: { $in: [1] }, d: {} }, 'tool.name': 'x' })).toEqual(['a.b', 'a.c', 'a.d', 'tool.name', 'z']);
    });

    it('$and/$or elements continue the enclosing path and $not is transparent', () => {
      expect(conditionPaths({ ctx: { $or: [{ a: 1 }, { b: { $not: { c: 1 } } }] }, $and: [{ x: 1 }, { x: 2 }] })).toEqual(['ctx.a', 'ctx.b.c', 'x']);
    });

    it('a two-operator object is one path (each operator ends there); null leaves and empty roots give none', () => {
      expect(conditionPaths({ n: { $gte: 1, $lte: 5 } })).toEqual(['n']);
      expect(conditionPaths({ a: null })).toEqual([]);
      expect(conditionPaths({})).toEqual([]);
      expect(conditionPaths(null)).toEqual([]);
    });
  });
});
