// A progress bar for long work: step/total, rate, ETA and any live values (loss, reward).
// On a terminal it redraws one line; elsewhere (CI, logs) it prints a line every few seconds.

export interface ProgressOptions {
  total: number;
  label: string;
  /** what a unit is called in the rate ("img", "step") */
  unit?: string;
  /** how many units one tick() stands for when computing the rate (e.g. batch size) */
  unitsPerTick?: number;
  stream?: NodeJS.WriteStream;
  /** seconds between lines when not on a terminal */
  logEvery?: number;
}

export class Progress {
  private readonly start = performance.now();
  private lastDraw = 0;
  private done = 0;
  private readonly tty: boolean;
  private readonly stream: NodeJS.WriteStream;

  constructor(private readonly opts: ProgressOptions, private startAt = 0) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = Boolean(this.stream.isTTY);
    this.done = startAt;
  }

  /** Advances to `step` (absolute) and shows the live values. */
  update(step: number, values: Record<string, number | string> = {}): void {
    this.done = step;
    const now = performance.now();
    const every = this.tty ? 100 : (this.opts.logEvery ?? 10) * 1000;
    if (now - this.lastDraw < every && step < this.opts.total) return;
    this.lastDraw = now;
    this.stream.write(this.render(values) + (this.tty ? '\r' : '\n'));
  }

  finish(values: Record<string, number | string> = {}): void {
    this.stream.write(this.render(values) + '\n');
  }

  private render(values: Record<string, number | string>): string {
    const { total, label } = this.opts;
    const elapsed = (performance.now() - this.start) / 1000;
    const doneHere = this.done - this.startAt;
    const rate = doneHere > 0 ? doneHere / elapsed : 0;
    const eta = rate > 0 ? (total - this.done) / rate : NaN;
    const frac = total > 0 ? Math.min(1, this.done / total) : 1;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const unitRate = rate * (this.opts.unitsPerTick ?? 1);
    const vals = Object.entries(values)
      .map(([k, v]) => `${k} ${typeof v === 'number' ? fmt(v) : v}`)
      .join('  ');
    return `${label} ${bar} ${this.done}/${total}  ${unitRate.toFixed(1)} ${this.opts.unit ?? 'it'}/s  ETA ${duration(eta)}  ${vals}`;
  }
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : v.toFixed(4);
}

export function duration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}
