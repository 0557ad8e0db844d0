import { cosine } from '../../src/data-plane/embeddings/embedding-provider';
import { LocalEmbeddingProvider } from '../../src/data-plane/embeddings/local-provider';
import { NODE_TYPES } from '../../src/data-plane/memory/domain/model';
import { embeddableText } from '../../src/data-plane/memory/domain/write-plan';
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

});

/** Contract §1.8: the text a node's embedding is derived from depends on its type. */
describe('embeddableText', () => {
  const [title, summary, input] = ['the title', 'the summary', 'the request input text'];

  it('given an event or evidence node, when it has a summary, then the summary; else the title; else the request input text', () => {
    for (const type of ['event', 'evidence'] as const) {
      expect(embeddableText(type, title, summary, input)).toBe(summary);
      expect(embeddableText(type, title, null, input)).toBe(title);
      expect(embeddableText(type, null, null, input)).toBe(input);
      expect(embeddableText(type, null, null, null)).toBeNull();
    }
  });

  it('given an entity, topic or concept, when it has a title, then the title; else the summary; never the input text', () => {
    for (const type of ['entity', 'topic', 'concept'] as const) {
      expect(embeddableText(type, title, summary, input)).toBe(title);
      expect(embeddableText(type, null, summary, input)).toBe(summary);
      expect(embeddableText(type, null, null, input)).toBeNull();
    }
  });

  it('given a rule, procedure or self model, when it has a summary, then the summary; else the title; never the input text', () => {
    for (const type of ['rule', 'procedure', 'self_model'] as const) {
      expect(embeddableText(type, title, summary, input)).toBe(summary);
      expect(embeddableText(type, title, null, input)).toBe(title);
      expect(embeddableText(type, null, null, input)).toBeNull();
    }
  });

  it('given empty strings, when choosing, then they count as absent (a node whose text normalised to nothing)', () => {
    expect(embeddableText('event', '', '', input)).toBe(input);
    expect(embeddableText('concept', '', summary, input)).toBe(summary);
    expect(embeddableText('rule', '', '', input)).toBeNull();
  });

  it('covers every node type of the model', () => {
    // A new node type without a rule here would embed nothing silently: every type yields text when it has a title.
    for (const type of NODE_TYPES) expect(embeddableText(type, title, null, null)).toBe(title);
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
