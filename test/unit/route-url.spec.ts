import { randomBytes } from 'node:crypto';
import { isSealedRouteUrl, openRouteUrl, routeUrlKey, routeUrlOrigin, SealedUrlError, sealRouteUrl } from '../../src/alerting/route-url';

describe('sealed alert-route URLs', () => {
  const key = routeUrlKey(randomBytes(32).toString('hex'));
  const url = 'https://hooks.slack.example/services/T000/B000/XXXXSECRET';

  it('given a URL, seals it without its path and opens it again with the same key', () => {
    const sealed = sealRouteUrl(key, url);
    expect(isSealedRouteUrl(sealed)).toBe(true);
    expect(sealed).not.toContain('XXXXSECRET');
    expect(sealed).not.toContain('/services');
    expect(openRouteUrl(key, sealed)).toBe(url);
  });

  it('given the same URL twice, seals it to the same string (an unchanged URL records no event); another URL differs', () => {
    expect(sealRouteUrl(key, url)).toBe(sealRouteUrl(key, url));
    expect(sealRouteUrl(key, `${url}2`)).not.toBe(sealRouteUrl(key, url));
  });

  it('shows the origin only, sealed or (a route of an earlier release) in the clear', () => {
    expect(routeUrlOrigin(sealRouteUrl(key, url))).toBe('https://hooks.slack.example/…');
    expect(routeUrlOrigin(url)).toBe('https://hooks.slack.example/…');
    expect(routeUrlOrigin('not a url')).toBe('/…');
  });

  it('opens a URL kept in the clear by an earlier release as it is', () => {
    expect(openRouteUrl(key, url)).toBe(url);
  });

  it('refuses another key (a changed KEY_PEPPER) and a tampered seal with a clear error', () => {
    const sealed = sealRouteUrl(key, url);
    expect(() => openRouteUrl(routeUrlKey('another pepper'), sealed)).toThrow(SealedUrlError);
    expect(() => openRouteUrl(routeUrlKey('another pepper'), sealed)).toThrow(/another KEY_PEPPER/);
    const parts = sealed.split('.');
    const ct = Buffer.from(parts[2]!, 'base64url');
    ct[0] = (ct[0] ?? 0) ^ 1;
    expect(() => openRouteUrl(key, [parts[0], parts[1], ct.toString('base64url')].join('.'))).toThrow(SealedUrlError);
    expect(() => openRouteUrl(key, 'aionis-sealed:v1:broken')).toThrow(SealedUrlError);
  });
});
