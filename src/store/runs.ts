// The SQLite store of runs and their metrics (docs/architecture.md, "Run store"; src/store/). One file,
// by default runs/store.sqlite, shared by every training run of a machine: the dashboard, the demo and
// the report read runs back from it. Four tables:
//
//   runs     (id, name, method, out_dir, config JSON, status running|finished|failed, started_at,
//             finished_at, error)                       — one row per run; a resumed run keeps its row;
//             method: a fine-tuning run's method, or the kind of run (pretrain, train-clip,
//             train-preference, train-aesthetic)
//   metrics  (run_id, step, key, value)                  — one row per logged number, (run_id, step, key) unique
//   labels   (id, pool, pair_id, prompt, image_a_id, image_a, image_b_id, image_b, choice A|B|tie|skip,
//             annotator, created_at, model_p_a, meta JSON) — one row per human answer on a pair
//             (the dashboard, src/server/); model_p_a: the preference model's P(A ≻ B) when known
//   study_votes (id, study, trial_id, prompt, model_x, model_y, outcome x|y|tie, annotator,
//             created_at)                                — one row per answer of a blind user study
//
// Times are ISO-8601 strings (UTC). Writes use WAL journaling and a busy timeout, so that two runs
// writing the same store at once wait for each other instead of failing. A file that is not an
// SQLite database, or one whose tables have another shape, is an Error naming the file.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export type RunStatus = 'running' | 'finished' | 'failed';

export interface RunRow {
  id: number;
  name: string;
  method: string;
  outDir: string;
  config: Record<string, unknown>;
  status: RunStatus;
  startedAt: string;
  finishedAt: string | null;
  /** why a failed run failed */
  error: string | null;
}

export interface MetricRow {
  step: number;
  key: string;
  value: number;
}

export const DEFAULT_STORE_PATH = 'runs/store.sqlite';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  method TEXT NOT NULL,
  out_dir TEXT NOT NULL,
  config TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed')),
  started_at TEXT NOT NULL,
  finished_at TEXT,
  error TEXT
);
CREATE TABLE IF NOT EXISTS metrics (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  key TEXT NOT NULL,
  value REAL,
  PRIMARY KEY (run_id, step, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS labels (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  pool TEXT NOT NULL,
  pair_id TEXT NOT NULL,
  prompt TEXT NOT NULL,
  image_a_id TEXT NOT NULL,
  image_a TEXT NOT NULL,
  image_b_id TEXT NOT NULL,
  image_b TEXT NOT NULL,
  choice TEXT NOT NULL CHECK (choice IN ('A', 'B', 'tie', 'skip')),
  annotator TEXT NOT NULL,
  created_at TEXT NOT NULL,
  model_p_a REAL,
  meta TEXT
);
CREATE TABLE IF NOT EXISTS study_votes (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  study TEXT NOT NULL,
  trial_id TEXT NOT NULL,
  prompt TEXT NOT NULL,
  model_x TEXT NOT NULL,
  model_y TEXT NOT NULL,
  outcome TEXT NOT NULL CHECK (outcome IN ('x', 'y', 'tie')),
  annotator TEXT NOT NULL,
  created_at TEXT NOT NULL
);
`;

const RUN_COLUMNS = ['id', 'name', 'method', 'out_dir', 'config', 'status', 'started_at', 'finished_at', 'error'];
const METRIC_COLUMNS = ['run_id', 'step', 'key', 'value'];
const LABEL_COLUMNS = ['id', 'pool', 'pair_id', 'prompt', 'image_a_id', 'image_a', 'image_b_id', 'image_b', 'choice', 'annotator', 'created_at', 'model_p_a', 'meta'];
const VOTE_COLUMNS = ['id', 'study', 'trial_id', 'prompt', 'model_x', 'model_y', 'outcome', 'annotator', 'created_at'];

export type LabelChoice = 'A' | 'B' | 'tie' | 'skip';

/** A person's answer on a pair of images of one prompt. Image paths are absolute. */
export interface LabelRow {
  id: number;
  pool: string;
  pairId: string;
  prompt: string;
  imageAId: string;
  imageA: string;
  imageBId: string;
  imageB: string;
  choice: LabelChoice;
  annotator: string;
  createdAt: string;
  /** the preference model's P(A ≻ B) for the pair, when it was scored */
  modelPA: number | null;
  meta: Record<string, unknown> | null;
}

export type NewLabel = Omit<LabelRow, 'id' | 'createdAt'>;

export type StudyOutcome = 'x' | 'y' | 'tie';

/** One answer of a blind user study: which of two models' images of one prompt won. */
export interface StudyVoteRow {
  id: number;
  study: string;
  trialId: string;
  prompt: string;
  modelX: string;
  modelY: string;
  outcome: StudyOutcome;
  annotator: string;
  createdAt: string;
}

interface RawRun {
  id: number;
  name: string;
  method: string;
  out_dir: string;
  config: string;
  status: RunStatus;
  started_at: string;
  finished_at: string | null;
  error: string | null;
}

export class RunStore {
  readonly path: string;
  private readonly db: Database.Database;

  /** Opens (creating when missing) the store at `path`; ':memory:' for a store in memory. */
  constructor(path: string = DEFAULT_STORE_PATH) {
    this.path = path === ':memory:' ? path : resolve(path);
    if (path !== ':memory:') {
      try {
        mkdirSync(dirname(this.path), { recursive: true });
      } catch (e) {
        throw new Error(`run store ${this.path}: cannot create its folder (${(e as Error).message})`);
      }
    }
    let db: Database.Database | null = null;
    try {
      db = new Database(this.path, { timeout: 10_000 });
      db.pragma('foreign_keys = ON');
      if (path !== ':memory:') db.pragma('journal_mode = WAL');
      db.exec(SCHEMA);
      checkColumns(db, 'runs', RUN_COLUMNS);
      checkColumns(db, 'metrics', METRIC_COLUMNS);
      checkColumns(db, 'labels', LABEL_COLUMNS);
      checkColumns(db, 'study_votes', VOTE_COLUMNS);
    } catch (e) {
      db?.close();
      const msg = (e as Error).message;
      throw new Error(
        `run store ${this.path} cannot be used: ${msg}` +
        (/not a database|malformed|file is encrypted/i.test(msg) ? ' (the file is not an SQLite database or is corrupt; move it away or pass another --store)' : ''),
      );
    }
    this.db = db;
  }

  /** Adds a run in status 'running'; returns its id. */
  createRun(r: { name: string; method: string; outDir: string; config: Record<string, unknown> }): number {
    const info = this.db
      .prepare('INSERT INTO runs (name, method, out_dir, config, status, started_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(r.name, r.method, resolve(r.outDir), JSON.stringify(r.config), 'running', new Date().toISOString());
    return Number(info.lastInsertRowid);
  }

  getRun(id: number): RunRow | null {
    const raw = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as RawRun | undefined;
    return raw ? toRun(raw) : null;
  }

  /** All runs, newest first (optionally only those of one method or output folder). */
  listRuns(filter: { method?: string; outDir?: string } = {}): RunRow[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.method !== undefined) {
      where.push('method = ?');
      args.push(filter.method);
    }
    if (filter.outDir !== undefined) {
      where.push('out_dir = ?');
      args.push(resolve(filter.outDir));
    }
    const sql = `SELECT * FROM runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC`;
    return (this.db.prepare(sql).all(...args) as RawRun[]).map(toRun);
  }

  /** A resumed run: back to 'running', its metrics after `step` dropped (they will be logged again). */
  resumeRun(id: number, step: number, config?: Record<string, unknown>): void {
    this.requireRun(id, 'resumeRun');
    this.db.transaction(() => {
      this.db.prepare('UPDATE runs SET status = ?, finished_at = NULL, error = NULL WHERE id = ?').run('running', id);
      if (config) this.db.prepare('UPDATE runs SET config = ? WHERE id = ?').run(JSON.stringify(config), id);
      this.db.prepare('DELETE FROM metrics WHERE run_id = ? AND step > ?').run(id, step);
    })();
  }

  finishRun(id: number, status: Exclude<RunStatus, 'running'>, error?: string): void {
    this.requireRun(id, 'finishRun');
    this.db
      .prepare('UPDATE runs SET status = ?, finished_at = ?, error = ? WHERE id = ?')
      .run(status, new Date().toISOString(), error ?? null, id);
  }

  /** Records the numbers of one step (non-finite values are stored as NULL and read back as NaN). */
  logMetrics(id: number, step: number, values: Record<string, number>): void {
    if (!Number.isSafeInteger(step) || step < 0) throw new Error(`run store: step must be a non-negative integer, got ${step}`);
    const ins = this.db.prepare('INSERT OR REPLACE INTO metrics (run_id, step, key, value) VALUES (?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const [k, v] of Object.entries(values)) {
        if (typeof v !== 'number') throw new Error(`run store: metric '${k}' at step ${step} is not a number`);
        ins.run(id, step, k, Number.isFinite(v) ? v : null);
      }
    })();
  }

  /** A run's metrics in step order (one key, or all). */
  metrics(id: number, key?: string): MetricRow[] {
    const rows = (key === undefined
      ? this.db.prepare('SELECT step, key, value FROM metrics WHERE run_id = ? ORDER BY step, key').all(id)
      : this.db.prepare('SELECT step, key, value FROM metrics WHERE run_id = ? AND key = ? ORDER BY step').all(id, key)) as
      { step: number; key: string; value: number | null }[];
    return rows.map((r) => ({ step: r.step, key: r.key, value: r.value ?? NaN }));
  }

  /** A run's metric rows logged at steps after `step`, in step order (what a live view has not seen yet). */
  metricsAfter(id: number, step: number): MetricRow[] {
    const rows = this.db.prepare('SELECT step, key, value FROM metrics WHERE run_id = ? AND step > ? ORDER BY step, key').all(id, step) as
      { step: number; key: string; value: number | null }[];
    return rows.map((r) => ({ step: r.step, key: r.key, value: r.value ?? NaN }));
  }

  /** A run's newest step and the newest finite value of each key (what a list of runs shows), without reading every row. */
  latestMetrics(id: number): { step: number | null; values: Record<string, number> } {
    const step = (this.db.prepare('SELECT MAX(step) AS step FROM metrics WHERE run_id = ?').get(id) as { step: number | null }).step;
    const rows = this.db
      .prepare(`SELECT m.key, m.value FROM metrics m JOIN (SELECT key, MAX(step) AS step FROM metrics WHERE run_id = ? AND value IS NOT NULL GROUP BY key) l
        ON m.key = l.key AND m.step = l.step WHERE m.run_id = ?`)
      .all(id, id) as { key: string; value: number }[];
    return { step, values: Object.fromEntries(rows.map((r) => [r.key, r.value])) };
  }

  /** Records a label; it is committed when this returns. Returns its id. */
  addLabel(l: NewLabel): number {
    const info = this.db
      .prepare(`INSERT INTO labels (pool, pair_id, prompt, image_a_id, image_a, image_b_id, image_b, choice, annotator, created_at, model_p_a, meta)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(l.pool, l.pairId, l.prompt, l.imageAId, resolve(l.imageA), l.imageBId, resolve(l.imageB), l.choice, l.annotator,
        new Date().toISOString(), l.modelPA, l.meta ? JSON.stringify(l.meta) : null);
    return Number(info.lastInsertRowid);
  }

  /** Labels in the order they were given (optionally of one pool). */
  labels(filter: { pool?: string } = {}): LabelRow[] {
    const rows = (filter.pool === undefined
      ? this.db.prepare('SELECT * FROM labels ORDER BY id').all()
      : this.db.prepare('SELECT * FROM labels WHERE pool = ? ORDER BY id').all(filter.pool)) as Record<string, unknown>[];
    return rows.map((r) => ({
      id: r.id as number, pool: r.pool as string, pairId: r.pair_id as string, prompt: r.prompt as string,
      imageAId: r.image_a_id as string, imageA: r.image_a as string, imageBId: r.image_b_id as string, imageB: r.image_b as string,
      choice: r.choice as LabelChoice, annotator: r.annotator as string, createdAt: r.created_at as string,
      modelPA: r.model_p_a as number | null, meta: r.meta ? (JSON.parse(r.meta as string) as Record<string, unknown>) : null,
    }));
  }

  /** Records a user-study answer; committed when this returns. Returns its id. */
  addStudyVote(v: Omit<StudyVoteRow, 'id' | 'createdAt'>): number {
    const info = this.db
      .prepare('INSERT INTO study_votes (study, trial_id, prompt, model_x, model_y, outcome, annotator, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(v.study, v.trialId, v.prompt, v.modelX, v.modelY, v.outcome, v.annotator, new Date().toISOString());
    return Number(info.lastInsertRowid);
  }

  /** A study's answers in the order they were given. */
  studyVotes(study: string): StudyVoteRow[] {
    const rows = this.db.prepare('SELECT * FROM study_votes WHERE study = ? ORDER BY id').all(study) as Record<string, unknown>[];
    return rows.map((r) => ({
      id: r.id as number, study: r.study as string, trialId: r.trial_id as string, prompt: r.prompt as string, modelX: r.model_x as string,
      modelY: r.model_y as string, outcome: r.outcome as StudyOutcome, annotator: r.annotator as string, createdAt: r.created_at as string,
    }));
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private requireRun(id: number, what: string): void {
    if (!this.db.prepare('SELECT 1 FROM runs WHERE id = ?').get(id)) throw new Error(`run store ${this.path}: ${what}: no run with id ${id}`);
  }
}

function checkColumns(db: Database.Database, table: string, want: string[]): void {
  const have = (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name);
  const missing = want.filter((c) => !have.includes(c));
  if (missing.length) throw new Error(`table ${table} lacks the columns ${missing.join(', ')} (a store of another program?)`);
}

function toRun(r: RawRun): RunRow {
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(r.config);
  } catch {
    throw new Error(`run store: run ${r.id} has a config that is not valid JSON`);
  }
  return {
    id: r.id, name: r.name, method: r.method, outDir: r.out_dir, config, status: r.status,
    startedAt: r.started_at, finishedAt: r.finished_at, error: r.error,
  };
}
