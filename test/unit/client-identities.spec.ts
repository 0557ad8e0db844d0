import { clientIdentityAllows, normaliseClientIdentity } from '../../src/control-plane/api-keys/client-identities';
import type { ClientCertificateIdentity } from '../../src/platform/http/client-certificate';
import { parseSubjectAltName } from '../../src/platform/http/client-certificate';

const FP = '0123456789abcdef'.repeat(4);

const cert = (over: Partial<ClientCertificateIdentity> = {}): ClientCertificateIdentity => ({
  verified: true,
  commonNames: ['agent-1'],
  dnsNames: ['agent-1.agents.acme.example'],
  uris: ['spiffe://acme.example/agent/1'],
  sha256: FP,
  ...over,
});

describe('normaliseClientIdentity', () => {
  it.each([
    ['cn:agent-1', 'cn:agent-1'],
    ['cn:Booker Bot', 'cn:Booker Bot'],
    ['dns:Agent-1.ACME.example', 'dns:agent-1.acme.example'],
    ['dns:*.agents.example', 'dns:*.agents.example'],
    ['uri:spiffe://acme.example/Agent/1', 'uri:spiffe://acme.example/Agent/1'],
    [`sha256:${FP.toUpperCase()}`, `sha256:${FP}`],
    [`sha256:${FP.match(/../g)!.join(':')}`, `sha256:${FP}`],
  ])('%s is stored as %s', (given, stored) => {
    expect(normaliseClientIdentity(given)).toBe(stored);
  });

  it.each(['agent-1', ':agent-1', 'cn:', 'CN:agent-1', 'email:a@b.example', 'ip:10.0.0.1', 'dns:has space', 'dns:a/b', 'sha256:abc', `sha256:${FP}00`, 'cn: padded', 'cn:tab\there', `cn:${'x'.repeat(513)}`])('%s is refused', (bad) => {
    expect(normaliseClientIdentity(bad)).toBeNull();
  });
});

describe('clientIdentityAllows', () => {
  it('does not restrict a key without entries, even on a connection without a certificate', () => {
    expect(clientIdentityAllows([], null)).toBe(true);
    expect(clientIdentityAllows([], cert({ verified: false }))).toBe(true);
  });

  it('matches each kind of entry', () => {
    expect(clientIdentityAllows(['cn:agent-1'], cert())).toBe(true);
    expect(clientIdentityAllows(['dns:agent-1.agents.acme.example'], cert())).toBe(true);
    expect(clientIdentityAllows(['uri:spiffe://acme.example/agent/1'], cert())).toBe(true);
    expect(clientIdentityAllows([`sha256:${FP}`], cert())).toBe(true);
  });

  it('matches DNS names case-insensitively, common names and URIs exactly', () => {
    expect(clientIdentityAllows(['dns:agent-1.agents.acme.example'], cert({ dnsNames: ['AGENT-1.Agents.ACME.example'] }))).toBe(true);
    expect(clientIdentityAllows(['cn:agent-1'], cert({ commonNames: ['Agent-1'] }))).toBe(false);
    expect(clientIdentityAllows(['uri:spiffe://acme.example/agent/1'], cert({ uris: ['spiffe://acme.example/agent/1/'] }))).toBe(false);
  });

  it('does not expand wildcards: a SAN *.x matches only the literal entry', () => {
    expect(clientIdentityAllows(['dns:a.agents.example'], cert({ dnsNames: ['*.agents.example'] }))).toBe(false);
    expect(clientIdentityAllows(['dns:*.agents.example'], cert({ dnsNames: ['a.agents.example'] }))).toBe(false);
    expect(clientIdentityAllows(['dns:*.agents.example'], cert({ dnsNames: ['*.agents.example'] }))).toBe(true);
  });

  it('matches any one of several entries', () => {
    expect(clientIdentityAllows(['cn:someone-else', 'dns:agent-1.agents.acme.example'], cert())).toBe(true);
    expect(clientIdentityAllows(['cn:someone-else', `sha256:${'f'.repeat(64)}`], cert())).toBe(false);
  });

  it('refuses without a certificate, and with a certificate the listener did not verify, even when it names the identity', () => {
    expect(clientIdentityAllows(['cn:agent-1'], null)).toBe(false);
    expect(clientIdentityAllows(['cn:agent-1', `sha256:${FP}`], cert({ verified: false }))).toBe(false);
  });

  it('does not read a DNS name as a common name or the other way round', () => {
    expect(clientIdentityAllows(['cn:agent-1.agents.acme.example'], cert())).toBe(false);
    expect(clientIdentityAllows(['dns:agent-1'], cert())).toBe(false);
  });
});

describe('parseSubjectAltName', () => {
  it('reads DNS and URI entries and skips the others', () => {
    expect(parseSubjectAltName('DNS:a.example, URI:spiffe://acme/x, IP Address:10.0.0.1, email:a@b.example, DNS:b.example')).toStrictEqual({
      dns: ['a.example', 'b.example'],
      uri: ['spiffe://acme/x'],
    });
  });

  it('unquotes the JSON-quoted values Node writes for names holding a comma', () => {
    expect(parseSubjectAltName('URI:"spiffe://acme/a,b", DNS:c.example')).toStrictEqual({ dns: ['c.example'], uri: ['spiffe://acme/a,b'] });
  });

  it('is empty for a certificate without the extension', () => {
    expect(parseSubjectAltName(undefined)).toStrictEqual({ dns: [], uri: [] });
  });
});
