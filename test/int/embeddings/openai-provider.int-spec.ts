import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { EmbeddingError } from '../../../src/data-plane/embeddings/embedding-provider';
import { OpenAiEmbeddingProvider, type OpenAiProviderOptions } from '../../../src/data-plane/embeddings/openai-provider';

/**
 * The real OpenAI API cannot be reached from the machine these tests run on, so this is a stand-in:
 * a real HTTP server on 127.0.0.1 that speaks the OpenAI `POST /embeddings` shape
 * ({model, input: string[], dimensions} -> {data: [{index, embedding: number[]}]}). The provider
 * talks to it over a real socket with the real `fetch`, so headers, status codes, timeouts and
 * aborts all go through the network stack.
 */

interface ReceivedRequest {
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly body: { model?: unknown; input?: unknown; dimensions?: unknown };
}

/** What the stand-in does for one call: answer with a status and a raw body, or never answer. */
type Reply = { status: number; body: string } | 'hang';
type Responder = (req: ReceivedRequest, call: number) => Reply;

const DIMS = 4;

/** A deterministic vector that differs between texts of different length or first character. */
function vectorFor(text: string, dims = DIMS): number[] {
  return Array.from({ length: dims }, (_, k) => (text.length + 1) * 1000 + (text.charCodeAt(0) || 0) + k / 10);
}

function okReply(req: ReceivedRequest, order: 'in-order' | 'reversed' = 'in-order', dims = DIMS): Reply {
  const input = req.body.input as string[];
  const data = input.map((text, index) => ({ object: 'embedding', index, embedding: vectorFor(text, dims) }));
  if (order === 'reversed') data.reverse();
  return { status: 200, body: JSON.stringify({ object: 'list', data, model: req.body.model, usage: { prompt_tokens: 1, total_tokens: 1 } }) };
}

const errorReply = (status: number): Reply => ({ status, body: JSON.stringify({ error: { message: `stand-in error ${status}`, type: 'test' } }) });

class StandInOpenAi {
  readonly requests: ReceivedRequest[] = [];
  /** Resolves (per call number) when the client side of that call's connection went away. */
  readonly clientGone: Promise<void>[] = [];
  private server: Server | undefined;
  private responder: Responder = (req) => okReply(req);

  respond(responder: Responder): void {
    this.responder = responder;
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/v1`;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    let gone!: () => void;
    this.clientGone.push(new Promise<void>((r) => (gone = r)));
    res.on('close', () => gone());
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: ReceivedRequest['body'] = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ReceivedRequest['body'];
      } catch {
        // leave empty: the assertions on the recorded body will fail
      }
      const received: ReceivedRequest = { method: req.method, url: req.url, headers: req.headers, body };
      this.requests.push(received);
      if (req.method !== 'POST' || req.url !== '/v1/embeddings') {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not found"}}');
        return;
      }
      const reply = this.responder(received, this.requests.length);
      if (reply === 'hang') return; // never answer; the socket is destroyed in close()
      res.writeHead(reply.status, { 'content-type': 'application/json' }).end(reply.body);
    });
  }
}

const settle = <T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );

async function expectEmbeddingError(p: Promise<unknown>, retryable: boolean): Promise<EmbeddingError> {
  const r = await settle(p);
  if (r.ok) throw new Error(`expected an EmbeddingError, got a result: ${JSON.stringify(r.value)}`);
  expect(r.error).toBeInstanceOf(EmbeddingError);
  const err = r.error as EmbeddingError;
  expect(err.name).toBe('EmbeddingError');
  expect(err.retryable).toBe(retryable);
  return err;
}

describe('OpenAiEmbeddingProvider against a stand-in OpenAI /embeddings server', () => {
  let server: StandInOpenAi;
  let baseUrl: string;

  const provider = (overrides: Partial<OpenAiProviderOptions> = {}) =>
    new OpenAiEmbeddingProvider({
      baseUrl,
      model: 'text-embedding-3-small',
      apiKey: 'sk-test-123',
      dimensions: DIMS,
      timeoutMs: 2_000,
      retries: 0,
      ...overrides,
    });

  beforeEach(async () => {
    server = new StandInOpenAi();
    baseUrl = await server.start();
  });
  afterEach(async () => {
    await server.close();
  });

  describe('request and response', () => {
    it('names itself openai:<model> with the configured dimensions', () => {
      const p = provider({ dimensions: 8, model: 'text-embedding-3-large' });
      expect(p.model).toBe('openai:text-embedding-3-large');
      expect(p.dimensions).toBe(8);
    });

    it('POSTs model, input texts and dimensions as JSON with a Bearer token, and returns the vectors', async () => {
      const texts = ['alpha', 'bravo charlie', ''];
      const out = await provider().embed(texts);

      expect(server.requests).toHaveLength(1);
      const req = server.requests[0]!;
      expect(req.method).toBe('POST');
      expect(req.url).toBe('/v1/embeddings');
      expect(req.headers['content-type']).toMatch(/^application\/json/);
      expect(req.headers.authorization).toBe('Bearer sk-test-123');
      expect(req.body).toEqual({ model: 'text-embedding-3-small', input: texts, dimensions: DIMS });
      expect(out).toEqual(texts.map((t) => vectorFor(t)));
    });

    it('tolerates a trailing slash on the base URL', async () => {
      await provider({ baseUrl: `${baseUrl}/` }).embed(['x']);
      expect(server.requests.map((r) => r.url)).toEqual(['/v1/embeddings']);
    });

    it('sends no Authorization header when no api key is configured', async () => {
      for (const apiKey of [undefined, '']) {
        await provider({ apiKey }).embed(['x']);
      }
      expect(server.requests).toHaveLength(2);
      for (const req of server.requests) {
        expect(req.headers).not.toHaveProperty('authorization');
      }
    });

    it('returns vectors in input order when the server returns the items out of order (by their index)', async () => {
      server.respond((req) => okReply(req, 'reversed'));
      const texts = ['one', 'two two', 'three three three'];
      const out = await provider().embed(texts);
      expect(out).toEqual(texts.map((t) => vectorFor(t)));
      // Sanity check that the stand-in really did send them reversed.
      expect(out[0]).not.toEqual(vectorFor(texts[2]!));
    });

    it('returns vectors in input order for an arbitrary permutation', async () => {
      server.respond((req) => {
        const input = req.body.input as string[];
        const data = [2, 0, 3, 1].map((index) => ({ index, embedding: vectorFor(input[index]!) }));
        return { status: 200, body: JSON.stringify({ data }) };
      });
      const texts = ['a', 'bb', 'ccc', 'dddd'];
      expect(await provider().embed(texts)).toEqual(texts.map((t) => vectorFor(t)));
    });
  });

  describe('retries', () => {
    it.each([429, 500, 503])('retries %i and succeeds within `retries`', async (status) => {
      const failures = 2;
      server.respond((req, call) => (call <= failures ? errorReply(status) : okReply(req)));
      const texts = ['retry me', 'and me'];
      const out = await provider({ retries: 2 }).embed(texts);
      expect(out).toEqual(texts.map((t) => vectorFor(t)));
      expect(server.requests).toHaveLength(failures + 1);
      // Every attempt sends the same request.
      for (const req of server.requests) {
        expect(req.body).toEqual({ model: 'text-embedding-3-small', input: texts, dimensions: DIMS });
        expect(req.headers.authorization).toBe('Bearer sk-test-123');
      }
    });

    it.each([429, 500])('gives up on %i after `retries` retries with a retryable EmbeddingError', async (status) => {
      server.respond(() => errorReply(status));
      const err = await expectEmbeddingError(provider({ retries: 2 }).embed(['never works']), true);
      expect(err.message).toContain(String(status));
      expect(server.requests).toHaveLength(3); // one attempt + two retries
    });

    it('makes exactly one call with retries = 0', async () => {
      server.respond(() => errorReply(500));
      await expectEmbeddingError(provider({ retries: 0 }).embed(['x']), true);
      expect(server.requests).toHaveLength(1);
    });

    it.each([400, 401, 403, 404, 422])('does not retry %i: exactly one call, not retryable', async (status) => {
      server.respond(() => errorReply(status));
      const err = await expectEmbeddingError(provider({ retries: 3 }).embed(['bad request']), false);
      expect(err.message).toContain(String(status));
      expect(server.requests).toHaveLength(1);
    });
  });

  describe('malformed responses are permanent failures (no retry)', () => {
    const malformed: [string, (req: ReceivedRequest) => Reply][] = [
      ['vectors of the wrong dimensions', (req) => okReply(req, 'in-order', DIMS + 1)],
      ['vectors that are too short', (req) => okReply(req, 'in-order', DIMS - 1)],
      [
        'a non-finite number (1e999 parses as Infinity)',
        (req) => {
          const input = req.body.input as string[];
          const items = input.map((t, index) => `{"index":${index},"embedding":[${index === 1 ? '1e999' : '0.5'},${vectorFor(t).slice(1).join(',')}]}`);
          return { status: 200, body: `{"data":[${items.join(',')}]}` };
        },
      ],
      [
        'a -Infinity component',
        (req) => {
          const input = req.body.input as string[];
          const items = input.map((_, index) => `{"index":${index},"embedding":[0.1,0.2,-1e999,0.4]}`);
          return { status: 200, body: `{"data":[${items.join(',')}]}` };
        },
      ],
      [
        'a null component (how JSON.stringify encodes NaN)',
        (req) => {
          const input = req.body.input as string[];
          const data = input.map((t, index) => ({ index, embedding: index === 0 ? [0.1, Number.NaN, 0.3, 0.4] : vectorFor(t) }));
          return { status: 200, body: JSON.stringify({ data }) };
        },
      ],
      [
        'a string component',
        (req) => {
          const input = req.body.input as string[];
          const data = input.map((_, index) => ({ index, embedding: [0.1, '0.2', 0.3, 0.4] }));
          return { status: 200, body: JSON.stringify({ data }) };
        },
      ],
      ['too few items', (req) => {
        const r = okReply(req) as { status: number; body: string };
        const parsed = JSON.parse(r.body) as { data: unknown[] };
        parsed.data.pop();
        return { status: 200, body: JSON.stringify(parsed) };
      }],
      ['too many items', (req) => {
        const input = req.body.input as string[];
        const data = [...input, 'extra'].map((t, index) => ({ index, embedding: vectorFor(t) }));
        return { status: 200, body: JSON.stringify({ data }) };
      }],
      ['no data array', () => ({ status: 200, body: JSON.stringify({ object: 'list' }) })],
      ['a body that is not JSON', () => ({ status: 200, body: 'definitely not json' })],
    ];

    it.each(malformed)('rejects %s with a non-retryable EmbeddingError after one call', async (_what, responder) => {
      server.respond(responder);
      await expectEmbeddingError(provider({ retries: 3 }).embed(['first', 'second', 'third']), false);
      expect(server.requests).toHaveLength(1);
    });

    // The right number of items is not enough: each input position must be covered exactly once.
    const badIndexes: [string, number[]][] = [
      ['duplicate indexes (position 2 never filled)', [0, 1, 1]],
      ['an out-of-range index', [0, 1, 7]],
      ['a negative index', [-1, 0, 1]],
    ];
    it.each(badIndexes)('rejects %s with a non-retryable EmbeddingError', async (_what, indexes) => {
      server.respond((req) => {
        const input = req.body.input as string[];
        const data = indexes.map((index, i) => ({ index, embedding: vectorFor(input[i]!) }));
        return { status: 200, body: JSON.stringify({ data }) };
      });
      const texts = ['first', 'second', 'third'];
      const r = await settle(provider({ retries: 3 }).embed(texts));
      if (r.ok) {
        throw new Error(
          `expected an EmbeddingError, got ${r.value.length} slots (holes: ${texts.map((_, i) => i).filter((i) => !(i in r.value)).join(',') || 'none'}): ${JSON.stringify(r.value)}`,
        );
      }
      expect(r.error).toBeInstanceOf(EmbeddingError);
      expect((r.error as EmbeddingError).retryable).toBe(false);
      expect(server.requests).toHaveLength(1);
    });
  });

  describe('timeouts and aborts', () => {
    it('times out after timeoutMs when the server never answers, with a retryable EmbeddingError', async () => {
      server.respond(() => 'hang');
      const started = Date.now();
      await expectEmbeddingError(provider({ timeoutMs: 200, retries: 0 }).embed(['slow']), true);
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(180);
      expect(elapsed).toBeLessThan(1_500);
      expect(server.requests).toHaveLength(1);
      // The client really gave up on the connection.
      await server.clientGone[0];
    });

    it('retries a timeout and succeeds when a later attempt answers', async () => {
      server.respond((req, call) => (call === 1 ? 'hang' : okReply(req)));
      const out = await provider({ timeoutMs: 200, retries: 1 }).embed(['eventually']);
      expect(out).toEqual([vectorFor('eventually')]);
      expect(server.requests).toHaveLength(2);
    });

    it('gives up after `retries` timeouts with a retryable EmbeddingError', async () => {
      server.respond(() => 'hang');
      await expectEmbeddingError(provider({ timeoutMs: 150, retries: 1 }).embed(['slow']), true);
      expect(server.requests).toHaveLength(2);
    });

    it('an already-aborted signal makes no request and rejects promptly', async () => {
      const controller = new AbortController();
      controller.abort();
      const started = Date.now();
      // retries = 3: backing off through every retry would take 0.7-1.4 s.
      const r = await settle(provider({ retries: 3 }).embed(['x'], controller.signal));
      const elapsed = Date.now() - started;
      expect(r.ok).toBe(false);
      expect(server.requests).toHaveLength(0);
      expect(elapsed).toBeLessThan(300);
    });

    it('aborting mid-request drops the connection, stops retrying and rejects promptly', async () => {
      server.respond(() => 'hang');
      const controller = new AbortController();
      const p = settle(provider({ retries: 3, timeoutMs: 5_000 }).embed(['x'], controller.signal));
      // Wait until the request is on the server, then abort.
      while (server.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
      const abortedAt = Date.now();
      controller.abort();
      const r = await p;
      const elapsed = Date.now() - abortedAt;
      expect(r.ok).toBe(false);
      await server.clientGone[0]; // the in-flight request was actually cancelled
      expect(server.requests).toHaveLength(1);
      // retries = 3: backing off through every retry would take 0.7-1.4 s.
      expect(elapsed).toBeLessThan(300);
    });
  });
});
