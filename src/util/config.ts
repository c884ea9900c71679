// Typed configs: a YAML (or JSON) file, then `key.path=value` overrides from the command line,
// checked by a zod schema whose objects are strict (unknown keys are rejected). Errors name the
// field. The resolved config is printed at start and saved beside every output by the caller.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';

/** Sets `a.b.c` in a plain object; the value is parsed as YAML (numbers, booleans, lists) or kept as text. */
export function applyOverride(target: Record<string, unknown>, assignment: string): void {
  const eq = assignment.indexOf('=');
  if (eq <= 0) throw new Error(`override '${assignment}': expected key.path=value`);
  const path = assignment.slice(0, eq).split('.');
  const text = assignment.slice(eq + 1);
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch {
    value = text;
  }
  let node: Record<string, unknown> = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === undefined) node[key] = {};
    else if (typeof next !== 'object' || next === null || Array.isArray(next)) {
      throw new Error(`override '${assignment}': '${key}' is not a section`);
    }
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

/** One zod issue as `path: message`; an issue about the whole value is named `topLabel`. */
export function formatZodIssue(i: z.core.$ZodIssue, topLabel = '(top)'): string {
  return `${i.path.join('.') || topLabel}: ${i.message}`;
}

/** Every issue of a zod error after `source: `, joined by `; `; `topLabel` names the whole value. */
export function formatZodError(e: z.ZodError, source: string, topLabel = '(top)'): string {
  return `${source}: ` + e.issues.map((i) => formatZodIssue(i, topLabel)).join('; ');
}

/** Reads a config file (or starts from `base`), applies overrides, validates. */
export function loadConfig<S extends z.ZodType>(
  schema: S,
  opts: { path?: string; base?: unknown; overrides?: string[] },
): z.infer<S> {
  let raw: Record<string, unknown> = structuredClone((opts.base ?? {}) as Record<string, unknown>);
  if (opts.path) {
    let text: string;
    try {
      text = readFileSync(opts.path, 'utf8');
    } catch (e) {
      throw new Error(`config ${opts.path}: cannot read (${(e as Error).message})`);
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (e) {
      throw new Error(`config ${opts.path}: not valid YAML (${(e as Error).message})`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`config ${opts.path}: expected a mapping at the top`);
    raw = parsed as Record<string, unknown>;
  }
  for (const o of opts.overrides ?? []) applyOverride(raw, o);
  const r = schema.safeParse(raw);
  if (!r.success) throw new Error(formatZodError(r.error, opts.path ?? 'config'));
  return r.data;
}
