// An MLLM grader through any OpenAI-compatible chat-completions endpoint.
//
// Follows Diffusion-Sharpening (Tian et al. 2025, arXiv 2502.12146), whose MLLM reward asks GPT-4o
// to score an image for its prompt on accuracy to the prompt, creativity and originality, visual
// quality and realism, consistency and cohesion, and emotional or thematic resonance (0–10 each) and
// to give an overall score. The rubric is an editable template (templates/mllm-rubric.txt, with a
// {prompt} placeholder); the reward's score is `overall` (range 0–10), the details carry the rest.
//
// Unlike the authors' code, which returns 7.0 when a reply cannot be parsed, an unusable reply is
// retried and then is an Error — or, only when the caller chose onFailure: 'unscored', the sample is
// marked unscored (docs/methods.md: never a default score, which biases selection toward broken replies).
//
// Robustness: a concurrency limit (a semaphore, src/util/semaphore.ts), a per-request timeout
// (AbortController), retries with exponential back-off and jitter (p-retry) on 429, 408/409, 5xx,
// timeouts, network errors and unusable replies, and an on-disk cache (src/util/disk-cache.ts)
// keyed by sha256(model, template, prompt, PNG bytes).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import pRetry from 'p-retry';
import { z } from 'zod';
import type { Tensor } from '../torch/index.js';
import { encodePng } from '../world/image.js';
import { DiskCache } from '../util/disk-cache.js';
import { Semaphore } from '../util/semaphore.js';
import { checkImages, toRgbImages, type Reward, type RewardOutput, type RewardScale } from './reward.js';
import { MllmError, parseRubricReply, preview, rubricSchema, type RubricScores } from './mllm-reply.js';
import { formatZodError } from '../util/config.js';

export {
  MllmError,
  RUBRIC_FIELDS,
  extractJsonObject,
  extractJsonObjects,
  parseRubricReply,
  rubricSchema,
  type RubricField,
  type RubricScores,
} from './mllm-reply.js';

export const DEFAULT_TEMPLATE_PATH = new URL('./templates/mllm-rubric.txt', import.meta.url);
export const ENV = { baseURL: 'SHARPEN_MLLM_BASE_URL', apiKey: 'SHARPEN_MLLM_API_KEY', model: 'SHARPEN_MLLM_MODEL' } as const;
const OPENAI_BASE_URL = 'https://api.openai.com/v1';

// ---------------------------------------------------------------- options

export const mllmOptionsSchema = z
  .object({
    /** OpenAI-compatible base URL (…/v1); default $SHARPEN_MLLM_BASE_URL, else OpenAI's */
    baseURL: z.string().min(1).optional(),
    /** API key; default $SHARPEN_MLLM_API_KEY (may be omitted for a local server) */
    apiKey: z.string().min(1).optional(),
    /** model name; default $SHARPEN_MLLM_MODEL */
    model: z.string().min(1).optional(),
    /** the reward's name */
    name: z.string().min(1).default('mllm'),
    /** requests in flight at most */
    concurrency: z.number().int().min(1).max(256).default(4),
    /** per-request timeout, ms */
    timeoutMs: z.number().int().positive().default(60_000),
    /** retries after the first attempt (429, 408, 409, 5xx, timeouts, network errors, unusable replies) */
    retries: z.number().int().min(0).max(20).default(4),
    /** back-off before the first retry, ms (doubles by `factor`, times a random jitter in [1, 2)) */
    minTimeout: z.number().min(0).default(1000),
    /** longest back-off (and longest Retry-After honoured), ms */
    maxTimeout: z.number().min(0).default(30_000),
    /** back-off growth per retry */
    factor: z.number().min(1).default(2),
    /** 'error': a sample that stays unscorable throws; 'unscored': it is marked unscored (score NaN) */
    onFailure: z.enum(['error', 'unscored']).default('error'),
    /** cache directory (null: no cache) */
    cacheDir: z.string().min(1).nullable().default('.cache/mllm'),
    /** rubric template file with a {prompt} placeholder; default templates/mllm-rubric.txt */
    templatePath: z.string().min(1).optional(),
    /** rubric template text (instead of a file) */
    template: z.string().min(1).optional(),
    /** response_format json_object: 'auto' sends it and drops it if the server rejects it */
    jsonMode: z.enum(['auto', 'on', 'off']).default('auto'),
    /** sampling temperature (server default when absent) */
    temperature: z.number().min(0).max(2).optional(),
    /** max_tokens (not sent when absent) */
    maxTokens: z.number().int().positive().optional(),
    /** image_url detail (not sent when absent) */
    imageDetail: z.enum(['auto', 'low', 'high']).optional(),
  })
  .strict();
export type MllmOptions = z.input<typeof mllmOptionsSchema>;
type ResolvedOptions = z.output<typeof mllmOptionsSchema>;

/** The endpoint from options, then environment; throws a clear Error when nothing usable is configured. */
export function resolveEndpoint(
  opts: { baseURL?: string; apiKey?: string; model?: string },
  env: NodeJS.ProcessEnv = process.env,
): { baseURL: string; apiKey: string; model: string } {
  const baseURL = opts.baseURL ?? (env[ENV.baseURL] || undefined);
  const apiKey = opts.apiKey ?? (env[ENV.apiKey] || undefined);
  const model = opts.model ?? (env[ENV.model] || undefined);
  const how = `set ${ENV.baseURL}, ${ENV.apiKey} and ${ENV.model} (or the options baseURL, apiKey, model)`;
  if (!baseURL && !apiKey && !model) throw new Error(`mllm reward: no MLLM endpoint is configured; ${how}`);
  if (!model) throw new Error(`mllm reward: no model is configured; set ${ENV.model} (or the option model)`);
  if (!baseURL && !apiKey) {
    throw new Error(`mllm reward: no base URL and no API key; set ${ENV.baseURL} for a local server or ${ENV.apiKey} for OpenAI`);
  }
  const url = baseURL ?? OPENAI_BASE_URL;
  try {
    new URL(url);
  } catch {
    throw new Error(`mllm reward: base URL '${url}' is not a URL`);
  }
  // Local OpenAI-compatible servers ignore the key, but the client requires one.
  return { baseURL: url, apiKey: apiKey ?? 'no-key', model };
}

// ---------------------------------------------------------------- the reward

/** One graded image: the sub-scores, whether they came from the cache, how many requests it took. */
export interface MllmDetail extends RubricScores {
  cached: boolean;
  attempts: number;
}
/** Detail of a sample left unscored under onFailure: 'unscored'. */
export interface MllmFailureDetail {
  error: string;
  attempts: number;
}

export interface MllmStats {
  /** HTTP requests sent (every attempt) */
  requests: number;
  /** attempts that failed and were retried */
  retries: number;
  cacheHits: number;
  /** cache files that could not be read back and were ignored */
  cacheCorrupt: number;
  /** samples that stayed unscorable */
  failures: number;
}

interface CacheEntry {
  version: 1;
  model: string;
  prompt: string;
  scores: RubricScores;
  raw: string;
}

const NOT_POLICY_STATUSES = new Set([401, 403, 404]); // misconfiguration: an Error even under 'unscored'

export class MllmReward implements Reward {
  readonly name: string;
  readonly differentiable = false;
  readonly scale: RewardScale = { kind: 'range', min: 0, max: 10 };
  readonly model: string;
  readonly baseURL: string;
  readonly template: string;
  readonly options: Readonly<ResolvedOptions>;
  readonly stats: MllmStats = { requests: 0, retries: 0, cacheHits: 0, cacheCorrupt: 0, failures: 0 };
  private readonly client: OpenAI;
  private readonly semaphore: Semaphore;
  private readonly cache: DiskCache | null;
  private useJsonFormat: boolean;
  private readonly inflight = new Map<string, Promise<MllmDetail>>();
  private readonly controllers = new Set<AbortController>();
  private disposed = false;

  constructor(options: MllmOptions = {}) {
    const parsed = mllmOptionsSchema.safeParse(options);
    if (!parsed.success) {
      throw new Error(
        formatZodError(parsed.error, 'mllm reward', '(options)'),
      );
    }
    const o = parsed.data;
    this.options = o;
    const ep = resolveEndpoint(o);
    this.name = o.name;
    this.model = ep.model;
    this.baseURL = ep.baseURL;
    if (o.template !== undefined && o.templatePath !== undefined)
      throw new Error('mllm reward: give template or templatePath, not both');
    this.template = o.template ?? readFileSync(o.templatePath ?? DEFAULT_TEMPLATE_PATH, 'utf8');
    if (!this.template.includes('{prompt}')) throw new Error('mllm reward: the rubric template has no {prompt} placeholder');
    // Retries are ours (p-retry); the client's own are off.
    this.client = new OpenAI({ baseURL: ep.baseURL, apiKey: ep.apiKey, maxRetries: 0, timeout: o.timeoutMs + 5_000 });
    this.semaphore = new Semaphore(o.concurrency);
    this.cache = o.cacheDir === null ? null : new DiskCache(o.cacheDir, 'mllm reward');
    this.useJsonFormat = o.jsonMode !== 'off';
  }

  /** The rubric text for one prompt. */
  renderPrompt(prompt: string): string {
    return this.template.split('{prompt}').join(prompt);
  }

  /** The cache key: sha256 over (model, template text, prompt, PNG bytes), each length-prefixed. */
  cacheKey(prompt: string, png: Uint8Array): string {
    const h = createHash('sha256');
    for (const part of [Buffer.from(this.model), Buffer.from(this.template), Buffer.from(prompt), png]) {
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(part.length));
      h.update(len).update(part);
    }
    return h.digest('hex');
  }

  async score(images: Tensor, prompts: string[]): Promise<RewardOutput> {
    if (this.disposed) throw new Error(`reward '${this.name}': used after dispose()`);
    const n = checkImages(images, prompts, this.name);
    const pngs = toRgbImages(images).map((img) => encodePng(img)); // [3, H, W] in [0, 1] → 8-bit PNG
    const settled = await Promise.allSettled(pngs.map((png, i) => this.gradePng(png, prompts[i]!)));
    const scores = new Array<number>(n);
    const unscored = new Array<boolean>(n).fill(false);
    const details: (MllmDetail | MllmFailureDetail)[] = new Array(n);
    const errors: { i: number; error: Error }[] = [];
    settled.forEach((s, i) => {
      if (s.status === 'fulfilled') {
        scores[i] = s.value.overall;
        details[i] = s.value;
        return;
      }
      const error = s.reason instanceof Error ? s.reason : new Error(String(s.reason));
      errors.push({ i, error });
      scores[i] = NaN;
      unscored[i] = true;
      details[i] = { error: error.message, attempts: (error as { attempts?: number }).attempts ?? 0 };
    });
    const fatal = errors.filter(
      ({ error }) =>
        this.options.onFailure === 'error' ||
        (error.cause instanceof MllmError && error.cause.status !== undefined && NOT_POLICY_STATUSES.has(error.cause.status)) ||
        !(error.cause instanceof MllmError),
    );
    if (fatal.length > 0) {
      const { i, error } = fatal[0]!;
      const more = errors.length > 1 ? ` (${errors.length} of ${n} samples failed; the first is shown)` : '';
      throw new Error(`reward '${this.name}': sample ${i} (prompt ${preview(prompts[i]!, 60)}): ${error.message}${more}`, {
        cause: error,
      });
    }
    const out: RewardOutput = { scores, details };
    if (errors.length > 0) out.unscored = unscored;
    return out;
  }

  /** Grades one PNG for one prompt: from the cache, or by asking the model (with retries). */
  async gradePng(png: Uint8Array, prompt: string): Promise<MllmDetail> {
    const key = this.cacheKey(prompt, png);
    const pending = this.inflight.get(key);
    if (pending) return pending.then((d) => ({ ...d, cached: true, attempts: 0 }));
    const p = this.gradeUncached(key, png, prompt).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  private async gradeUncached(key: string, png: Uint8Array, prompt: string): Promise<MllmDetail> {
    const hit = await this.readCache(key);
    if (hit) {
      this.stats.cacheHits++;
      return { ...hit, cached: true, attempts: 0 };
    }
    const text = this.renderPrompt(prompt);
    const dataUrl = `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
    return this.semaphore.use(async () => {
      let attempts = 0;
      let raw = '';
      const o = this.options;
      try {
        const scores = await pRetry(
          async () => {
            attempts++;
            raw = await this.complete(text, dataUrl);
            return parseRubricReply(raw);
          },
          {
            retries: o.retries,
            minTimeout: o.minTimeout,
            maxTimeout: o.maxTimeout,
            factor: o.factor,
            randomize: true, // jitter: each delay × a random factor in [1, 2)
            shouldRetry: ({ error }) => error instanceof MllmError && error.retryable && !this.disposed,
            onFailedAttempt: async ({ error, retriesLeft }) => {
              const retrying = retriesLeft > 0 && error instanceof MllmError && error.retryable && !this.disposed;
              if (!retrying) return;
              this.stats.retries++;
              // Honour Retry-After (capped) on top of the back-off.
              const wait = Math.min(error.retryAfterMs ?? 0, o.maxTimeout);
              if (wait > 0) await new Promise((r) => setTimeout(r, wait));
            },
          },
        );
        const detail: MllmDetail = { ...scores, cached: false, attempts };
        await this.writeCache(key, { version: 1, model: this.model, prompt, scores, raw });
        return detail;
      } catch (e) {
        this.stats.failures++;
        const cause = e instanceof Error ? e : new Error(String(e));
        const err = new Error(`could not be scored after ${attempts} attempt(s): ${cause.message}`, { cause });
        (err as Error & { attempts: number }).attempts = attempts;
        throw err;
      }
    });
  }

  /** One chat-completions request, its text content. Errors become MllmError with the cause. */
  private async complete(text: string, dataUrl: string): Promise<string> {
    const o = this.options;
    const ac = new AbortController();
    this.controllers.add(ac);
    const timer = setTimeout(() => ac.abort('timeout'), o.timeoutMs);
    try {
      for (;;) {
        this.stats.requests++;
        const sentJsonFormat = this.useJsonFormat;
        try {
          const completion = await this.client.chat.completions.create(
            {
              model: this.model,
              messages: [
                {
                  role: 'user',
                  content: [
                    { type: 'text', text },
                    { type: 'image_url', image_url: o.imageDetail ? { url: dataUrl, detail: o.imageDetail } : { url: dataUrl } },
                  ],
                },
              ],
              ...(sentJsonFormat ? { response_format: { type: 'json_object' as const } } : {}),
              ...(o.temperature !== undefined ? { temperature: o.temperature } : {}),
              ...(o.maxTokens !== undefined ? { max_tokens: o.maxTokens } : {}),
            },
            { signal: ac.signal, maxRetries: 0 },
          );
          const choice = completion.choices?.[0];
          if (!choice) throw new MllmError('unusable reply: no choices in the response', 'reply', true);
          const content = choice.message?.content;
          if (typeof content !== 'string' || content.trim() === '') {
            const refusal = choice.message?.refusal;
            throw new MllmError(
              `unusable reply: no text content${refusal ? ` (refusal: ${preview(refusal)})` : ''}`,
              'reply',
              true,
            );
          }
          return content;
        } catch (e) {
          // A server without JSON mode: drop response_format and ask again (not counted as a retry).
          if (
            o.jsonMode === 'auto' &&
            sentJsonFormat &&
            e instanceof OpenAI.APIError &&
            e.status === 400 &&
            /response_format|json_object|json mode/i.test(e.message)
          ) {
            this.useJsonFormat = false;
            continue;
          }
          throw this.classify(e, ac.signal);
        }
      }
    } finally {
      clearTimeout(timer);
      this.controllers.delete(ac);
    }
  }

  private classify(e: unknown, signal: AbortSignal): Error {
    if (e instanceof MllmError) return e;
    if (signal.aborted) {
      if (signal.reason === 'timeout')
        return new MllmError(`request timed out after ${this.options.timeoutMs} ms`, 'timeout', true, undefined, undefined, {
          cause: e,
        });
      return new MllmError('request aborted (reward disposed)', 'aborted', false, undefined, undefined, { cause: e });
    }
    if (e instanceof OpenAI.APIConnectionTimeoutError)
      return new MllmError(`request timed out (${e.message})`, 'timeout', true, undefined, undefined, { cause: e });
    if (e instanceof OpenAI.APIConnectionError) {
      const why = e.cause instanceof Error ? `: ${e.cause.message}` : '';
      return new MllmError(
        `network error talking to ${this.baseURL}: ${e.message}${why}`,
        'network',
        true,
        undefined,
        undefined,
        { cause: e },
      );
    }
    if (e instanceof OpenAI.APIError && typeof e.status === 'number') {
      const s = e.status;
      const retryable = s === 429 || s === 408 || s === 409 || s >= 500;
      return new MllmError(`HTTP ${s} from ${this.baseURL}: ${e.message}`, 'http', retryable, s, retryAfterMs(e.headers), {
        cause: e,
      });
    }
    const msg = e instanceof Error ? e.message : String(e);
    return new MllmError(`request failed: ${msg}`, 'other', false, undefined, undefined, { cause: e });
  }

  // ------------------------------------------------ cache

  /** A cached answer, or null (missing, unreadable or invalid files are ignored and later overwritten). */
  private async readCache(key: string): Promise<RubricScores | null> {
    const text = (await this.cache?.read(key)) ?? null;
    if (text === null) return null;
    try {
      const entry = JSON.parse(text) as Partial<CacheEntry>;
      if (entry?.version !== 1 || entry.model !== this.model) throw new Error('not a cache entry');
      const r = rubricSchema.safeParse(entry.scores);
      if (!r.success) throw new Error('invalid scores');
      const scores: RubricScores = { ...r.data };
      const expl = (entry.scores as { explanation?: unknown }).explanation;
      if (typeof expl === 'string') scores.explanation = expl;
      return scores;
    } catch {
      this.stats.cacheCorrupt++;
      return null;
    }
  }

  /** Writes atomically (a temporary file renamed into place). A failed write is not fatal. */
  private async writeCache(key: string, entry: CacheEntry): Promise<void> {
    await this.cache?.write(key, JSON.stringify(entry, null, 1) + '\n');
  }

  /** Aborts requests in flight; the reward cannot be used afterwards. */
  dispose(): void {
    this.disposed = true;
    for (const ac of this.controllers) ac.abort('disposed');
    this.controllers.clear();
  }
}

/** Retry-After as ms (retry-after-ms, or retry-after in seconds or as an HTTP date); undefined if absent. */
function retryAfterMs(headers: Headers | undefined): number | undefined {
  if (!headers || typeof headers.get !== 'function') return undefined;
  const ms = Number.parseFloat(headers.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const h = headers.get('retry-after');
  if (!h) return undefined;
  const s = Number.parseFloat(h);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const date = Date.parse(h);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}
