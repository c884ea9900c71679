// Metrics as JSON Lines: one object per line, appended and flushed as training goes.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { writeFileAtomicSync } from './atomic-write.js';

export class JsonlWriter {
  constructor(readonly path: string) {}
  write(record: Record<string, unknown>): void {
    appendFileSync(this.path, JSON.stringify(record) + '\n');
  }
  /** Drops records with step > `step` (what a resumed run will write again). The file is rewritten
   *  atomically (a temporary file renamed over it): a process killed meanwhile leaves the old or the new. */
  truncateAfter(step: number): void {
    if (!existsSync(this.path)) return;
    const keep = readJsonl(this.path).filter((r) => typeof r.step !== 'number' || r.step <= step);
    writeFileAtomicSync(this.path, keep.map((r) => JSON.stringify(r) + '\n').join(''));
  }
}

/** Reads a JSONL file; a malformed line is an Error naming the file and line. */
export function readJsonl(path: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  readFileSync(path, 'utf8').split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    try {
      out.push(JSON.parse(line));
    } catch {
      throw new Error(`${path}:${i + 1}: not valid JSON`);
    }
  });
  return out;
}
