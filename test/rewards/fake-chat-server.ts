// A local OpenAI-compatible chat-completions server for the MLLM reward's tests. It answers
// POST /v1/chat/completions according to a script (one behaviour per request, in order, or a
// function of the request), records every request, and tracks how many are in flight.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const GOOD_SCORES = {
  accuracy: 7,
  creativity: 6,
  quality: 8,
  consistency: 7,
  resonance: 5,
  overall: 7.5,
  explanation: 'fine',
};

export type Behaviour =
  | { kind: 'ok'; content?: string; scores?: Record<string, unknown> } // a completion (content, or JSON of scores)
  | { kind: 'status'; status: number; headers?: Record<string, string>; message?: string } // an error response
  | { kind: 'hang' }; // never answers

export interface RecordedRequest {
  index: number;
  method: string;
  url: string;
  body: Record<string, unknown>;
  /** the text parts of the user message */
  text: string;
  /** the image_url of the user message */
  imageUrl: string | undefined;
  responseFormat: unknown;
}

export interface FakeServer {
  baseURL: string;
  requests: RecordedRequest[];
  readonly maxInFlight: number;
  close(): Promise<void>;
}

export type Script = Behaviour[] | ((req: RecordedRequest) => Behaviour);

/** Starts the server on 127.0.0.1 (a free port). After a list script runs out, requests get 'ok'. */
export async function startFakeServer(script: Script, opts: { delayMs?: number } = {}): Promise<FakeServer> {
  const requests: RecordedRequest[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const timers = new Set<NodeJS.Timeout>();

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    let done = false;
    const finish = () => {
      if (!done) {
        done = true;
        inFlight--;
      }
    };
    res.on('close', finish);

    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    } catch {
      body = {};
    }
    const messages = (body.messages ?? []) as { content: unknown }[];
    const parts = messages.flatMap((m) =>
      Array.isArray(m.content) ? m.content : [{ type: 'text', text: String(m.content) }],
    ) as {
      type: string;
      text?: string;
      image_url?: { url: string };
    }[];
    const recorded: RecordedRequest = {
      index: requests.length,
      method: req.method ?? '',
      url: req.url ?? '',
      body,
      text: parts
        .filter((p) => p.type === 'text')
        .map((p) => p.text)
        .join('\n'),
      imageUrl: parts.find((p) => p.type === 'image_url')?.image_url?.url,
      responseFormat: body.response_format,
    };
    requests.push(recorded);

    if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `no route ${req.method} ${req.url}` } }));
      return;
    }
    const b: Behaviour = typeof script === 'function' ? script(recorded) : (script[recorded.index] ?? { kind: 'ok' });
    if (b.kind === 'hang') return; // the client's timeout must end it

    const respond = () => {
      if (res.destroyed) return;
      if (b.kind === 'status') {
        res.writeHead(b.status, { 'content-type': 'application/json', ...(b.headers ?? {}) });
        res.end(JSON.stringify({ error: { message: b.message ?? `scripted ${b.status}`, type: 'scripted' } }));
        return;
      }
      const content = b.content ?? JSON.stringify(b.scores ?? GOOD_SCORES);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: `chatcmpl-${recorded.index}`,
          object: 'chat.completion',
          created: Math.floor(Date.now() / 1000),
          model: String(body.model ?? 'fake'),
          choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: 'stop' }],
          usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 },
        }),
      );
    };
    if (opts.delayMs) {
      const t = setTimeout(() => {
        timers.delete(t);
        respond();
      }, opts.delayMs);
      timers.add(t);
    } else respond();
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(e));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    get maxInFlight() {
      return maxInFlight;
    },
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
