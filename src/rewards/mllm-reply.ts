// The MLLM grader's reply: the rubric's fields and their schema, the error of a failed request or
// an unusable reply (MllmError), and the parser that finds the scores in a model's reply (a JSON
// object, possibly fenced or embedded in prose).
import { z } from 'zod';

export const RUBRIC_FIELDS = ['accuracy', 'creativity', 'quality', 'consistency', 'resonance', 'overall'] as const;
export type RubricField = (typeof RUBRIC_FIELDS)[number];

// A number in [0, 10]; a numeric string ("8", "7.5") is accepted, anything else (null, "", "high") is not.
const score010 = z.preprocess(
  (v) => (typeof v === 'string' && /^\s*[-+]?\d+(\.\d+)?\s*$/.test(v) ? Number(v) : v),
  z.number().min(0).max(10),
);
export const rubricSchema = z.object({
  accuracy: score010,
  creativity: score010,
  quality: score010,
  consistency: score010,
  resonance: score010,
  overall: score010,
});
export type RubricScores = Record<RubricField, number> & { explanation?: string };

/** Failure of one request or reply; `retryable` says whether trying again may help. */
export class MllmError extends Error {
  constructor(
    message: string,
    readonly kind: 'http' | 'timeout' | 'network' | 'reply' | 'aborted' | 'other',
    readonly retryable: boolean,
    readonly status?: number,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MllmError';
  }
}

/**
 * The JSON objects in a model's reply, in order: the whole text, a ```json fence, or objects
 * embedded in prose (found by matching braces outside strings). Throws MllmError('reply') naming
 * the problem when there is none.
 */
export function extractJsonObjects(text: string | null | undefined): Record<string, unknown>[] {
  if (text === null || text === undefined || text.trim() === '')
    throw new MllmError('unusable reply: empty reply', 'reply', true);
  const trimmed = text.trim();
  if (!trimmed.includes('{')) throw new MllmError(`unusable reply: no JSON object in reply: ${preview(text)}`, 'reply', true);
  const candidates: string[] = [trimmed];
  const fence = /```(?:json)?\s*([\s\S]*?)```/i.exec(trimmed);
  if (fence) candidates.push(fence[1]!.trim());
  // Balanced {...} spans, scanning from each '{' (at most 64 starts).
  let starts = 0;
  for (let s = trimmed.indexOf('{'); s >= 0 && starts < 64; s = trimmed.indexOf('{', s + 1), starts++) {
    const end = matchingBrace(trimmed, s);
    candidates.push(end > s ? trimmed.slice(s, end + 1) : trimmed.slice(s));
  }
  const found: Record<string, unknown>[] = [];
  let firstError: string | null = null;
  for (const c of new Set(candidates)) {
    if (!c.startsWith('{')) continue;
    try {
      const v: unknown = JSON.parse(c);
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) found.push(v as Record<string, unknown>);
    } catch (e) {
      firstError ??= (e as Error).message;
    }
  }
  if (found.length === 0) {
    throw new MllmError(`unusable reply: malformed JSON (${firstError ?? 'not an object'}): ${preview(text)}`, 'reply', true);
  }
  return found;
}

/** The first JSON object in a reply (see extractJsonObjects). */
export function extractJsonObject(text: string | null | undefined): Record<string, unknown> {
  return extractJsonObjects(text)[0]!;
}

/** Index of the '}' closing the '{' at `start`, ignoring braces inside strings; -1 if unbalanced. */
function matchingBrace(s: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < s.length; i++) {
    const ch = s[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === '{') depth++;
    else if (ch === '}' && --depth === 0) return i;
  }
  return -1;
}

/** The text on one line, quoted, cut at `max` characters (for error messages). */
export function preview(text: string, max = 160): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return JSON.stringify(t.length > max ? t.slice(0, max) + '…' : t);
}

/** Parses and validates a reply: all six fields present, numbers in [0, 10]. Throws MllmError('reply'). */
export function parseRubricReply(text: string | null | undefined): RubricScores {
  // The first object that passes; if none does, report on the one with the most rubric fields.
  const objects = extractJsonObjects(text);
  let best: { obj: Record<string, unknown>; issues: z.core.$ZodIssue[] } | null = null;
  let bestFields = -1;
  for (const obj of objects) {
    const r = rubricSchema.safeParse(obj);
    if (r.success) {
      const scores: RubricScores = { ...r.data };
      if (typeof obj.explanation === 'string') scores.explanation = obj.explanation;
      return scores;
    }
    const fields = RUBRIC_FIELDS.filter((f) => f in obj).length;
    if (fields > bestFields) {
      bestFields = fields;
      best = { obj, issues: r.error.issues };
    }
  }
  const { obj, issues } = best!;
  const problems = issues.map((i) => {
    const field = i.path.join('.') || '(object)';
    const got = i.path.length === 1 ? obj[String(i.path[0])] : undefined;
    return got === undefined ? `${field}: missing` : `${field}=${JSON.stringify(got)}: ${i.message}`;
  });
  throw new MllmError(`unusable reply: invalid scores (${problems.join('; ')})`, 'reply', true);
}
