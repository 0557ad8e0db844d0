import { cosine, embeddingText } from '../../src/data-plane/embeddings/embedding-provider';
import { LocalEmbeddingProvider } from '../../src/data-plane/embeddings/local-provider';
import { backoffMs } from '../../src/data-plane/outbox/outbox-worker';

describe('local embedding provider', () => {
  const p = new LocalEmbeddingProvider(256);

  it('is deterministic, normalised and of the configured size', () => {
    const a = p.embedOne('Alice drinks green tea');
    expect(a).toHaveLength(256);
    expect(p.embedOne('Alice drinks green tea')).toEqual(a);
    expect(Math.sqrt(a.reduce((s, x) => s + x * x, 0))).toBeCloseTo(1, 10);
    expect(p.embedOne('')).toEqual(new Array(256).fill(0));
  });

  it('ranks texts that share words and word parts above unrelated ones', () => {
    const q = p.embedOne('what tea does alice drink');
    const tea = p.embedOne('Green tea: Alice drinks green tea every morning');
    const bike = p.embedOne('Bicycle: Bob rides a red bicycle to work');
    expect(cosine(q, tea)).toBeGreaterThan(cosine(q, bike) + 0.2);
    // Word parts count too: "drinking" is near "drinks".
    expect(cosine(p.embedOne('drinking'), p.embedOne('drinks'))).toBeGreaterThan(cosine(p.embedOne('drinking'), p.embedOne('bicycle')));
  });

  it('builds the text from title and summary', () => {
    expect(embeddingText({ title: 'T', text_summary: 'S' })).toBe('T\nS');
    expect(embeddingText({ title: null, text_summary: 'S' })).toBe('S');
  });
});

describe('outbox backoff', () => {
  it('grows exponentially with jitter between half and the full cap, capped at 5 minutes', () => {
    expect(backoffMs(1, () => 0)).toBe(500);
    expect(backoffMs(1, () => 1)).toBe(1000);
    expect(backoffMs(4, () => 0)).toBe(4000);
    expect(backoffMs(4, () => 1)).toBe(8000);
    expect(backoffMs(30, () => 1)).toBe(300_000);
  });
});
