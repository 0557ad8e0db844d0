import { BlockList, isIP } from 'node:net';

/** A CIDR as API keys accept them (10.0.0.0/8, 2001:db8::/32). */
export function isCidr(c: string): boolean {
  const [net, bits, extra] = c.split('/');
  if (!net || bits === undefined || extra !== undefined || !/^\d{1,3}$/.test(bits)) return false;
  const f = isIP(net);
  return f !== 0 && Number(bits) <= (f === 4 ? 32 : 128);
}

/** Is `ip` inside one of the CIDRs? An unknown source address is outside all of them. */
export function cidrAllows(cidrs: readonly string[], ip: string | null): boolean {
  if (!ip) return false;
  const addr = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
  const family = isIP(addr);
  if (family === 0) return false;
  const list = new BlockList();
  for (const c of cidrs) {
    // Malformed entries are skipped, never widened: "10.0.0.0/" must not read as /0.
    if (!isCidr(c)) continue;
    const [net = '', bits] = c.split('/');
    list.addSubnet(net, Number(bits), isIP(net) === 4 ? 'ipv4' : 'ipv6');
  }
  return list.check(addr, family === 4 ? 'ipv4' : 'ipv6');
}
