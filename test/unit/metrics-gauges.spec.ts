import { withKnownTypes } from '../../src/data-plane/outbox/outbox-metrics';
import { CachedSample } from '../../src/platform/telemetry/cached-sample';

describe('CachedSample (gauges read from the database)', () => {
  let now = 0;
  const clock = () => now;

  it('given a read within the TTL, when scraped again, then the source is not read again', async () => {
    now = 0;
    let reads = 0;
    const s = new CachedSample(() => Promise.resolve(++reads), 5000, clock);
    expect(await s.get()).toBe(1);
    now = 4999;
    expect(await s.get()).toBe(1);
    now = 5000;
    expect(await s.get()).toBe(2);
    expect(reads).toBe(2);
  });

  it('given concurrent scrapes, when the read is slow, then they share one read', async () => {
    now = 0;
    let reads = 0;
    let release: (v: number) => void = () => undefined;
    const s = new CachedSample(() => {
      reads += 1;
      return new Promise<number>((r) => (release = r));
    }, 5000, clock);
    const a = s.get();
    const b = s.get();
    release(7);
    expect(await Promise.all([a, b])).toEqual([7, 7]);
    expect(reads).toBe(1);
  });

  it('given a failed read, when scraped again, then the failure is not cached and no stale value is served', async () => {
    now = 0;
    let fail = false;
    let reads = 0;
    const s = new CachedSample(() => (fail ? Promise.reject(new Error('db down')) : Promise.resolve(++reads)), 5000, clock);
    expect(await s.get()).toBe(1);
    now = 6000;
    fail = true;
    await expect(s.get()).rejects.toThrow('db down');
    now = 6001;
    await expect(s.get()).rejects.toThrow('db down'); // not the old 1
    fail = false;
    expect(await s.get()).toBe(2);
  });

  it('given a TTL of 0, then every scrape reads', async () => {
    let reads = 0;
    const s = new CachedSample(() => Promise.resolve(++reads), 0, clock);
    await s.get();
    await s.get();
    expect(reads).toBe(2);
  });
});

describe('outbox gauge rows', () => {
  it('every known job type has a row (zeros when idle); other types found in the table are kept, sorted', () => {
    const zero = (type: string) => ({ type, pending: 0, retrying: 0, processing: 0, dead_letter: 0, oldest_age_s: 0 });
    expect(withKnownTypes([])).toEqual([zero('alert_delivery'), zero('embed_nodes')]);
    const other = { type: 'future_job', pending: 1, retrying: 0, processing: 0, dead_letter: 2, oldest_age_s: 3 };
    expect(withKnownTypes([other]).map((r) => r.type)).toEqual(['alert_delivery', 'embed_nodes', 'future_job']);
    const embed = { type: 'embed_nodes', pending: 4, retrying: 1, processing: 0, dead_letter: 0, oldest_age_s: 9 };
    expect(withKnownTypes([embed])).toEqual([zero('alert_delivery'), embed]);
  });
});
