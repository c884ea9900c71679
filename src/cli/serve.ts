// `sharpen serve`: the dashboard (src/server/): runs live, comparisons, generation, preference labels
// and blind user studies in the browser.
//   npx sharpen serve [--port 7860] [--host 127.0.0.1] [--token T] [--store runs/store.sqlite]
//   npx sharpen serve --export-labels runs/labels     (write the labels as pairs.jsonl and exit)
import type { Command } from 'commander';
import { int } from './args.js';

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('the dashboard: watch runs live, compare them, generate, label preferences, run blind user studies')
    .option('--port <n>', 'port (0: any free one)', int('port', { min: 0, max: 65535 }), 7860)
    .option('--host <host>', 'address to bind; any but a loopback address requires a token', '127.0.0.1')
    .option('--token <t>', 'the token every request must carry (generated and printed when the host is not loopback)')
    .option('--root <dir>', 'the project folder whose runs/ and checkpoints/ are shown', '.')
    .option('--store <file>', 'the SQLite run store (default <root>/runs/store.sqlite)')
    .option('--threads <n>', 'threads of each generation and training process', int('threads', { min: 1, max: 256 }), 1)
    .option('--export-labels <dir>', 'write the stored labels as <dir>/pairs.jsonl (the label format train-preference reads) and exit')
    .action(async (opts: { port: number; host: string; token?: string; root: string; store?: string; threads: number; exportLabels?: string }) => {
      const { join } = await import('node:path');
      const { DEFAULT_STORE_PATH, RunStore } = await import('../store/runs.js');
      if (opts.exportLabels) {
        const { exportLabels } = await import('../server/labels.js');
        const store = new RunStore(opts.store ?? join(opts.root, DEFAULT_STORE_PATH));
        try {
          console.log(JSON.stringify(exportLabels(store, opts.exportLabels)));
        } finally {
          store.close();
        }
        return;
      }
      const { startServer } = await import('../server/serve.js');
      const s = await startServer({ root: opts.root, store: opts.store, host: opts.host, port: opts.port, token: opts.token, threads: opts.threads });
      console.error(`sharpen serve: store ${s.store.path}`);
      console.log(s.token ? `dashboard: ${s.url}?token=${s.token}` : `dashboard: ${s.url}`);
      await new Promise<void>((done) => {
        const stop = () => {
          console.error('sharpen serve: closing');
          void s.close().then(done);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
