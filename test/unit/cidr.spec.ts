import { cidrAllows } from '../../src/platform/http/cidr';

describe('cidrAllows', () => {
  describe('IPv4', () => {
    it('/8: allows addresses inside, refuses the ones just outside', () => {
      const cidrs = ['10.0.0.0/8'];
      expect(cidrAllows(cidrs, '10.0.0.0')).toBe(true);
      expect(cidrAllows(cidrs, '10.1.2.3')).toBe(true);
      expect(cidrAllows(cidrs, '10.255.255.255')).toBe(true);
      expect(cidrAllows(cidrs, '9.255.255.255')).toBe(false);
      expect(cidrAllows(cidrs, '11.0.0.0')).toBe(false);
      expect(cidrAllows(cidrs, '192.168.1.1')).toBe(false);
    });

    it('/32: allows exactly one address', () => {
      const cidrs = ['203.0.113.7/32'];
      expect(cidrAllows(cidrs, '203.0.113.7')).toBe(true);
      expect(cidrAllows(cidrs, '203.0.113.6')).toBe(false);
      expect(cidrAllows(cidrs, '203.0.113.8')).toBe(false);
    });

    it('/0: allows every IPv4 address', () => {
      for (const ip of ['0.0.0.0', '1.2.3.4', '10.1.2.3', '255.255.255.255']) expect(cidrAllows(['0.0.0.0/0'], ip)).toBe(true);
    });

    it('/24 and /16 boundaries', () => {
      expect(cidrAllows(['192.168.1.0/24'], '192.168.1.255')).toBe(true);
      expect(cidrAllows(['192.168.1.0/24'], '192.168.2.0')).toBe(false);
      expect(cidrAllows(['172.16.0.0/12'], '172.31.255.255')).toBe(true);
      expect(cidrAllows(['172.16.0.0/12'], '172.32.0.0')).toBe(false);
    });

    it('allows when any one of several CIDRs matches', () => {
      const cidrs = ['10.0.0.0/8', '192.168.0.0/16', '203.0.113.7/32'];
      expect(cidrAllows(cidrs, '192.168.44.1')).toBe(true);
      expect(cidrAllows(cidrs, '203.0.113.7')).toBe(true);
      expect(cidrAllows(cidrs, '203.0.113.8')).toBe(false);
    });

    it('an empty list allows nothing', () => {
      expect(cidrAllows([], '10.1.2.3')).toBe(false);
      expect(cidrAllows([], '::1')).toBe(false);
    });
  });

  describe('IPv6', () => {
    it('::1/128 allows only the loopback', () => {
      expect(cidrAllows(['::1/128'], '::1')).toBe(true);
      expect(cidrAllows(['::1/128'], '0:0:0:0:0:0:0:1')).toBe(true);
      expect(cidrAllows(['::1/128'], '::2')).toBe(false);
      expect(cidrAllows(['::1/128'], '127.0.0.1')).toBe(false);
    });

    it('2001:db8::/32 allows the documentation range only', () => {
      const cidrs = ['2001:db8::/32'];
      expect(cidrAllows(cidrs, '2001:db8::1')).toBe(true);
      expect(cidrAllows(cidrs, '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff')).toBe(true);
      expect(cidrAllows(cidrs, '2001:DB8:0:0:0:0:0:42')).toBe(true);
      expect(cidrAllows(cidrs, '2001:db9::1')).toBe(false);
      expect(cidrAllows(cidrs, '2001:db7:ffff::1')).toBe(false);
      expect(cidrAllows(cidrs, '::1')).toBe(false);
    });

    it('an IPv4 CIDR does not admit an unrelated IPv6 address', () => {
      expect(cidrAllows(['10.0.0.0/8'], '2001:db8::1')).toBe(false);
      expect(cidrAllows(['0.0.0.0/0'], '::1')).toBe(false);
    });
  });

  describe('IPv4-mapped IPv6', () => {
    it('::ffff:10.1.2.3 is treated as 10.1.2.3', () => {
      expect(cidrAllows(['10.0.0.0/8'], '::ffff:10.1.2.3')).toBe(true);
      expect(cidrAllows(['10.1.2.3/32'], '::ffff:10.1.2.3')).toBe(true);
    });

    it('::ffff:11.1.2.3 stays outside 10.0.0.0/8', () => {
      expect(cidrAllows(['10.0.0.0/8'], '::ffff:11.1.2.3')).toBe(false);
      expect(cidrAllows(['10.0.0.0/8'], '::ffff:192.168.0.1')).toBe(false);
    });
  });

  describe('unknown or invalid source address', () => {
    it('null or empty is outside every CIDR, even /0', () => {
      expect(cidrAllows(['0.0.0.0/0', '::/0'], null)).toBe(false);
      expect(cidrAllows(['0.0.0.0/0', '::/0'], '')).toBe(false);
    });

    it('garbage is outside every CIDR, even /0', () => {
      for (const ip of ['garbage', '10.1.2', '10.1.2.256', '10.1.2.3.4', ' 10.1.2.3', '10.1.2.3/32', '::ffff:garbage', 'localhost', ':::1']) {
        expect(cidrAllows(['0.0.0.0/0', '::/0', '10.0.0.0/8'], ip)).toBe(false);
      }
    });
  });

  describe('malformed CIDR entries are ignored', () => {
    it('entries without a prefix length or with an invalid network are skipped, the valid ones still apply', () => {
      const cidrs = ['not-a-cidr', '10.0.0.0', '/8', '999.1.1.1/8', 'garbage/8', '', '192.168.0.0/16'];
      expect(cidrAllows(cidrs, '192.168.3.4')).toBe(true);
      expect(cidrAllows(cidrs, '10.1.2.3')).toBe(false);
      expect(cidrAllows(cidrs, '8.8.8.8')).toBe(false);
    });

    it('a list of only malformed entries allows nothing', () => {
      expect(cidrAllows(['nonsense', '10.0.0.0', '1.2.3/8'], '10.1.2.3')).toBe(false);
    });

    // Each of these is malformed; "ignored" means: no exception, and it admits no address.
    // A valid entry is listed next to it to show the rest of the list still works.
    it.each([
      ['empty prefix length', '10.0.0.0/'],
      ['non-numeric prefix length', '10.0.0.0/abc'],
      ['IPv4 prefix length above 32', '10.0.0.0/33'],
      ['negative prefix length', '10.0.0.0/-1'],
      ['fractional prefix length', '10.0.0.0/8.5'],
      ['IPv6 prefix length above 128', '::/129'],
      ['two prefix lengths', '10.0.0.0/8/9'],
    ])('%s (%s) is ignored', (_what, bad) => {
      // 10.1.2.3 is inside the entry's network; 8.8.8.8 is outside it (only a /0 reading would admit it);
      // 192.168.1.1 is admitted by the valid entry next to it.
      const outcome = (ip: string): boolean | string => {
        try {
          return cidrAllows([bad, '192.168.0.0/16'], ip);
        } catch (err) {
          return `threw: ${err instanceof Error ? err.message : String(err)}`;
        }
      };
      expect({ '10.1.2.3': outcome('10.1.2.3'), '8.8.8.8': outcome('8.8.8.8'), '192.168.1.1': outcome('192.168.1.1') }).toStrictEqual({
        '10.1.2.3': false,
        '8.8.8.8': false,
        '192.168.1.1': true,
      });
    });
  });
});
