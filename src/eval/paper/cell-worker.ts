// One cell of `sharpen paper` in its own process (run.ts, `isolate`): receives { spec, folders, jobs } from
// the parent, runs the cell, sends { result } or { error } back and exits. It exits as well when the
// parent goes away, so that a killed `sharpen paper` leaves no cell running on.
import { runCell, type CellFolders, type CellSpec } from './cells.js';

process.on('disconnect', () => process.exit(1));
process.once('message', (msg: { spec: CellSpec; folders: CellFolders; jobs: number }) => {
  const send = (m: object) => new Promise<void>((resolve) => process.send!(m, () => resolve()));
  runCell(msg.spec, msg.folders, { scope: 'cell', jobs: msg.jobs }, (line) => void send({ log: line }))
    .then((result) => send({ result }))
    .catch((e: unknown) => send({ error: e instanceof Error ? e.message : String(e) }))
    .finally(() => process.exit(0));
});
