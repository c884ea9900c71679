// The MLLM grader against a local chat-completions server that misbehaves on purpose.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import * as torch from '../../src/torch/index.js';
import {
  MllmReward,
  extractJsonObject,
  parseRubricReply,
  resolveEndpoint,
  type MllmDetail,
  type MllmFailureDetail,
  type MllmOptions,
} from '../../src/rewards/mllm.js';
import { Semaphore } from '../../src/util/semaphore.js';
import { GOOD_SCORES, startFakeServer, type FakeServer, type Script } from './fake-chat-server.js';

let cacheRoot = '';
let cacheCount = 0;
before(async () => {
  cacheRoot = await mkdtemp(join(tmpdir(), 'mllm-test-'));
});
after(async () => {
  await rm(cacheRoot, { recursive: true, force: true });
});
const freshCache = () => join(cacheRoot, `c${cacheCount++}`);

/** A server with `script`, a reward on it with tiny back-off, and cleanup. */
async function withServer(
  script: Script,
  opts: MllmOptions,
  fn: (server: FakeServer, reward: MllmReward) => Promise<void>,
  serverOpts: { delayMs?: number } = {},
): Promise<void> {
  const server = await startFakeServer(script, serverOpts);
  const reward = new MllmReward({
    baseURL: server.baseURL,
    apiKey: 'test-key',
    model: 'fake-vlm',
    minTimeout: 5,
    maxTimeout: 20,
    timeoutMs: 2000,
    cacheDir: freshCache(),
    ...opts,
  });
  try {
    await fn(server, reward);
  } finally {
    reward.dispose();
    await server.close();
  }
}

// A tiny image batch: [n, 3, 4, 4] in [0, 1], distinct per index.
function images(n: number): torch.Tensor {
  return torch.tidy(() =>
    torch
      .arange(0, n * 48)
      .reshape(n, 3, 4, 4)
      .float()
      .div(n * 48),
  );
}

describe('mllm reward: requests and parsing', () => {
  test('scores the overall field, details carry the sub-scores; the request carries the PNG data URL and the prompt', async () => {
    await withServer([], {}, async (server, reward) => {
      const x = images(2);
      const out = await reward.score(x, ['a red cube left of a blue ball', 'a green cone']);
      x.dispose();
      assert.deepEqual(out.scores, [7.5, 7.5]);
      assert.equal(out.unscored, undefined);
      const d = out.details![0] as MllmDetail;
      assert.equal(d.accuracy, 7);
      assert.equal(d.resonance, 5);
      assert.equal(d.explanation, 'fine');
      assert.equal(d.cached, false);
      assert.equal(d.attempts, 1);
      assert.equal(server.requests.length, 2);
      const texts = server.requests.map((r) => r.text);
      assert.ok(texts.some((t) => t.includes('"a red cube left of a blue ball"')));
      assert.ok(texts.some((t) => t.includes('"a green cone"')));
      for (const r of server.requests) {
        assert.equal(r.method, 'POST');
        assert.match(r.url, /\/v1\/chat\/completions$/);
        assert.equal(r.body.model, 'fake-vlm');
        assert.deepEqual(r.responseFormat, { type: 'json_object' });
        assert.match(r.imageUrl ?? '', /^data:image\/png;base64,/);
        const png = PNG.sync.read(Buffer.from(r.imageUrl!.slice('data:image/png;base64,'.length), 'base64'));
        assert.equal(png.width, 4);
        assert.equal(png.height, 4);
      }
      assert.deepEqual(reward.scale, { kind: 'range', min: 0, max: 10 });
      assert.equal(reward.differentiable, false);
    });
  });

  test('500 then OK: retried, 2 requests', async () => {
    await withServer([{ kind: 'status', status: 500 }], {}, async (server, reward) => {
      const out = await reward.score(images(1), ['p']);
      assert.deepEqual(out.scores, [7.5]);
      assert.equal(server.requests.length, 2);
      assert.equal(reward.stats.retries, 1);
      assert.equal((out.details![0] as MllmDetail).attempts, 2);
    });
  });

  test('429 with retry-after 0 then OK: retried, 2 requests', async () => {
    await withServer([{ kind: 'status', status: 429, headers: { 'retry-after': '0' } }], {}, async (server, reward) => {
      const out = await reward.score(images(1), ['p']);
      assert.deepEqual(out.scores, [7.5]);
      assert.equal(server.requests.length, 2);
    });
  });

  test('a request that never answers times out (AbortController) and is retried', async () => {
    await withServer([{ kind: 'hang' }], { timeoutMs: 200 }, async (server, reward) => {
      const out = await reward.score(images(1), ['p']);
      assert.deepEqual(out.scores, [7.5]);
      assert.equal(server.requests.length, 2);
    });
  });

  test('malformed JSON, a reply without JSON, out-of-range and missing scores are retried', async () => {
    const script: Script = [
      { kind: 'ok', content: '{"accuracy": 7, "overall": 8,' },
      { kind: 'ok', content: 'I think this image is quite good.' },
      { kind: 'ok', scores: { ...GOOD_SCORES, overall: 12 } },
      { kind: 'ok', scores: { accuracy: 7, overall: 8 } },
      {
        kind: 'ok',
        content:
          'Here you go:\n```json\n{"accuracy": 9, "creativity": "6", "quality": 8, "consistency": 7, "resonance": 5, "overall": 8.5}\n```',
      },
    ];
    await withServer(script, { retries: 4 }, async (server, reward) => {
      const out = await reward.score(images(1), ['p']);
      assert.deepEqual(out.scores, [8.5]);
      assert.equal((out.details![0] as MllmDetail).creativity, 6);
      assert.equal(server.requests.length, 5);
      assert.equal(reward.stats.retries, 4);
    });
  });

  test('always 500: an Error naming the status after the retries, never a default score', async () => {
    await withServer(
      () => ({ kind: 'status', status: 500 }),
      { retries: 2 },
      async (server, reward) => {
        await assert.rejects(reward.score(images(1), ['p']), (e: Error) => {
          assert.match(e.message, /HTTP 500/);
          assert.match(e.message, /after 3 attempt/);
          assert.match(e.message, /mllm/);
          return true;
        });
        assert.equal(server.requests.length, 3);
      },
    );
  });

  test("always 500 under onFailure: 'unscored': that sample is unscored, the others scored", async () => {
    const script: Script = (r) => (r.text.includes('"bad prompt"') ? { kind: 'status', status: 503 } : { kind: 'ok' });
    await withServer(script, { retries: 1, onFailure: 'unscored' }, async (server, reward) => {
      const out = await reward.score(images(3), ['good one', 'bad prompt', 'good two']);
      assert.equal(out.scores[0], 7.5);
      assert.ok(Number.isNaN(out.scores[1]));
      assert.equal(out.scores[2], 7.5);
      assert.deepEqual(out.unscored, [false, true, false]);
      assert.match((out.details![1] as MllmFailureDetail).error, /HTTP 503/);
      assert.equal(server.requests.filter((r) => r.text.includes('"bad prompt"')).length, 2);
      assert.equal(reward.stats.failures, 1);
    });
  });

  test('replies that stay unusable: the Error says what was wrong with the JSON', async () => {
    await withServer(
      () => ({ kind: 'ok', content: '{"overall": 8' }),
      { retries: 1 },
      async (server, reward) => {
        await assert.rejects(reward.score(images(1), ['p']), /malformed JSON/);
        assert.equal(server.requests.length, 2);
      },
    );
    await withServer(
      () => ({ kind: 'ok', scores: { ...GOOD_SCORES, overall: 12 } }),
      { retries: 1 },
      async (_s, reward) => {
        await assert.rejects(reward.score(images(1), ['p']), /overall=12/);
      },
    );
    await withServer(
      () => ({ kind: 'ok', content: 'no idea' }),
      { retries: 0 },
      async (server, reward) => {
        await assert.rejects(reward.score(images(1), ['p']), /no JSON object/);
        assert.equal(server.requests.length, 1);
      },
    );
  });

  test("401 is not retried and is an Error even under onFailure: 'unscored' (misconfiguration)", async () => {
    await withServer(
      () => ({ kind: 'status', status: 401, message: 'bad key' }),
      { onFailure: 'unscored' },
      async (server, reward) => {
        await assert.rejects(reward.score(images(1), ['p']), /HTTP 401/);
        assert.equal(server.requests.length, 1);
      },
    );
  });

  test("jsonMode 'auto': a server that rejects response_format is asked again without it", async () => {
    const script: Script = (r) =>
      r.responseFormat
        ? { kind: 'status', status: 400, message: "response_format 'json_object' is not supported" }
        : { kind: 'ok' };
    await withServer(script, {}, async (server, reward) => {
      const out = await reward.score(images(2), ['a', 'b']);
      assert.deepEqual(out.scores, [7.5, 7.5]);
      assert.equal(server.requests.filter((r) => r.responseFormat === undefined).length, 2);
      assert.equal(reward.stats.retries, 0);
    });
  });
});

describe('mllm reward: concurrency and cache', () => {
  test('requests in flight never exceed the concurrency limit', async () => {
    await withServer(
      [],
      { concurrency: 2 },
      async (server, reward) => {
        const n = 6;
        const out = await reward.score(
          images(n),
          Array.from({ length: n }, (_, i) => `prompt ${i}`),
        );
        assert.equal(out.scores.length, n);
        assert.equal(server.requests.length, n);
        assert.ok(server.maxInFlight <= 2, `max in flight ${server.maxInFlight}`);
        assert.equal(server.maxInFlight, 2);
      },
      { delayMs: 30 },
    );
  });

  test('the cache answers a second time without a request, across instances', async () => {
    const cacheDir = freshCache();
    await withServer([], { cacheDir }, async (server, reward) => {
      const x = images(1);
      const first = await reward.score(x, ['a cat']);
      assert.equal(server.requests.length, 1);
      const second = await reward.score(x, ['a cat']);
      assert.equal(server.requests.length, 1);
      assert.deepEqual(second.scores, first.scores);
      assert.equal((second.details![0] as MllmDetail).cached, true);
      assert.equal((second.details![0] as MllmDetail).accuracy, 7);
      // another prompt is another key
      await reward.score(x, ['a dog']);
      assert.equal(server.requests.length, 2);
      const again = new MllmReward({ baseURL: server.baseURL, apiKey: 'k', model: 'fake-vlm', cacheDir });
      assert.deepEqual((await again.score(x, ['a cat'])).scores, [7.5]);
      assert.equal(server.requests.length, 2);
      assert.equal(again.stats.cacheHits, 1);
      // another model is another key
      const other = new MllmReward({ baseURL: server.baseURL, apiKey: 'k', model: 'other-vlm', cacheDir, minTimeout: 5 });
      await other.score(x, ['a cat']);
      assert.equal(server.requests.length, 3);
      x.dispose();
    });
  });

  test('a corrupt cache file is ignored and overwritten', async () => {
    const cacheDir = freshCache();
    await withServer([], { cacheDir }, async (server, reward) => {
      const x = images(1);
      await reward.score(x, ['a cat']);
      const sub = (await readdir(cacheDir))[0]!;
      const file = join(cacheDir, sub, (await readdir(join(cacheDir, sub)))[0]!);
      await writeFile(file, '{"version": 1, "scores": {"overall": 99');
      const out = await reward.score(x, ['a cat']);
      assert.deepEqual(out.scores, [7.5]);
      assert.equal(server.requests.length, 2);
      assert.equal(reward.stats.cacheCorrupt, 1);
      const rewritten = JSON.parse(await readFile(file, 'utf8')) as { scores: { overall: number } };
      assert.equal(rewritten.scores.overall, 7.5);
      await reward.score(x, ['a cat']);
      assert.equal(server.requests.length, 2);
      x.dispose();
    });
  });

  test('identical samples in one batch share one request', async () => {
    await withServer([], { cacheDir: null }, async (server, reward) => {
      const x = torch.zeros([3, 3, 4, 4]);
      const out = await reward.score(x, ['same', 'same', 'same']);
      assert.deepEqual(out.scores, [7.5, 7.5, 7.5]);
      assert.equal(server.requests.length, 1);
      x.dispose();
    });
  });

  test('Semaphore: at most `limit` holders, FIFO hand-over', async () => {
    const sem = new Semaphore(2);
    let active = 0;
    let peak = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        sem.use(async () => {
          active++;
          peak = Math.max(peak, active);
          order.push(i);
          await new Promise((r) => setTimeout(r, 2));
          active--;
        }),
      ),
    );
    assert.equal(peak, 2);
    assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
    assert.equal(sem.inUse, 0);
    assert.throws(() => new Semaphore(0), /positive integer/);
  });
});

describe('mllm reward: configuration and reply parsing', () => {
  test('no endpoint configured: a clear Error naming the environment variables', () => {
    const env = {} as NodeJS.ProcessEnv;
    assert.throws(() => resolveEndpoint({}, env), /SHARPEN_MLLM_BASE_URL.*SHARPEN_MLLM_API_KEY.*SHARPEN_MLLM_MODEL/);
    assert.throws(() => resolveEndpoint({ baseURL: 'http://127.0.0.1:1/v1' }, env), /no model/);
    assert.throws(() => resolveEndpoint({ model: 'm' }, env), /no base URL and no API key/);
    assert.deepEqual(resolveEndpoint({}, { SHARPEN_MLLM_BASE_URL: 'http://h/v1', SHARPEN_MLLM_MODEL: 'm' }), {
      baseURL: 'http://h/v1',
      apiKey: 'no-key',
      model: 'm',
    });
    assert.equal(resolveEndpoint({ model: 'x' }, { SHARPEN_MLLM_API_KEY: 'k', SHARPEN_MLLM_MODEL: 'm' }).model, 'x');
    const saved = { ...process.env };
    try {
      delete process.env.SHARPEN_MLLM_BASE_URL;
      delete process.env.SHARPEN_MLLM_API_KEY;
      delete process.env.SHARPEN_MLLM_MODEL;
      assert.throws(() => new MllmReward(), /no MLLM endpoint is configured/);
    } finally {
      Object.assign(process.env, saved);
    }
    assert.throws(() => new MllmReward({ model: 'm', baseURL: 'http://h/v1', bogus: 1 } as MllmOptions), /Unrecognized key/i);
    assert.throws(() => new MllmReward({ model: 'm', baseURL: 'http://h/v1', template: 'no placeholder' }), /\{prompt\}/);
  });

  test('the default template holds the rubric and the prompt', () => {
    const r = new MllmReward({ model: 'm', baseURL: 'http://127.0.0.1:9/v1', cacheDir: null });
    const text = r.renderPrompt('a blue cat');
    assert.ok(text.includes('"a blue cat"'));
    for (const f of ['accuracy', 'creativity', 'quality', 'consistency', 'resonance', 'overall', 'JSON'])
      assert.ok(text.includes(f), f);
    assert.ok(!text.includes('{prompt}'));
  });

  test('parseRubricReply: embedded, fenced, numeric strings; errors name the problem', () => {
    const s = { accuracy: 1, creativity: 2, quality: 3, consistency: 4, resonance: 5, overall: 6 };
    assert.equal(parseRubricReply(JSON.stringify(s)).overall, 6);
    assert.equal(parseRubricReply(`Sure! {"note": "a {brace} in a string"} then ${JSON.stringify(s)} done`).overall, 6);
    assert.equal(parseRubricReply('```json\n' + JSON.stringify({ ...s, overall: '6.5' }) + '\n```').overall, 6.5);
    assert.equal(parseRubricReply(JSON.stringify({ ...s, explanation: 'ok', extra: true })).explanation, 'ok');
    assert.throws(() => parseRubricReply(''), /empty reply/);
    assert.throws(() => parseRubricReply('just words'), /no JSON object/);
    assert.throws(() => parseRubricReply('{"overall": 3,,}'), /malformed JSON/);
    assert.throws(() => parseRubricReply(JSON.stringify({ ...s, overall: -1 })), /overall=-1/);
    assert.throws(() => parseRubricReply(JSON.stringify({ ...s, quality: null })), /quality/);
    assert.throws(() => parseRubricReply(JSON.stringify({ ...s, quality: 'high' })), /quality/);
    const { resonance: _drop, ...missing } = s;
    assert.throws(() => parseRubricReply(JSON.stringify(missing)), /resonance: missing\)/);
    assert.throws(() => parseRubricReply(`{"a": 1} ${JSON.stringify({ ...s, overall: 11 })}`), /overall=11/);
    assert.deepEqual(extractJsonObject('x {"a": {"b": 1}} y'), { a: { b: 1 } });
  });
});
