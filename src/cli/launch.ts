// `sharpen launch`: runs a command in several worker processes for data-parallel training, as
// torchrun does (src/distributed/launcher.ts sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
// MASTER_PORT and OMP_NUM_THREADS):
//   npx sharpen launch --nproc-per-node 2 -- finetune --method rlhf-sharpening --reward compositional --out runs/x
//   npx sharpen launch --nnodes 2 --node-rank 0 --master-addr 10.0.0.1 --master-port 29500 --nproc-per-node 4 -- pretrain …
// The command after -- is a sharpen command; a .ts/.js file runs as a Node script; anything else runs as a program.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { count, int } from './args.js';

interface LaunchFlags {
  nprocPerNode: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  masterPort: number;
  threadsPerWorker?: number;
}

/** The worker's argv: a sharpen command through bin/sharpen.js, a script through node (tsx for TypeScript), or a program. */
export function workerCommand(cmd: string[]): string[] {
  const [first = '', ...rest] = cmd;
  if (/\.(c|m)?ts$/.test(first) && existsSync(first)) return [process.execPath, '--import', 'tsx', first, ...rest];
  if (/\.(c|m)?js$/.test(first) && existsSync(first)) return [process.execPath, first, ...rest];
  // a sharpen command (finetune, pretrain, …), or sharpen's own flags first (--device cuda finetune …)
  if ((/^[a-z][a-z-]*$/.test(first) && !['python', 'python3', 'node', 'bash', 'sh', 'env'].includes(first)) || first.startsWith('--')) {
    return [process.execPath, join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'sharpen.js'), ...cmd];
  }
  return cmd;
}

export function registerLaunchCommand(program: Command): void {
  program
    .command('launch')
    .description('run a command in N worker processes per machine for data-parallel training (torchrun\'s environment: RANK, WORLD_SIZE, MASTER_ADDR, …)')
    .argument('<command...>', 'after --: a sharpen command (finetune …, pretrain …), a .ts/.js script, or a program')
    .option('--nproc-per-node <n>', 'worker processes on this machine', count('nproc-per-node'), 1)
    .option('--nnodes <k>', 'machines in the job', count('nnodes'), 1)
    .option('--node-rank <r>', "this machine's index in [0, nnodes)", int('node-rank', { min: 0 }), 0)
    .option('--master-addr <addr>', 'the address of the machine of node rank 0', '127.0.0.1')
    .option('--master-port <port>', 'a free TCP port on that machine', int('master-port', { min: 1, max: 65535 }), 29500)
    .option('--threads-per-worker <t>', "each worker's OMP_NUM_THREADS (default: this machine's cores / workers)", count('threads-per-worker'))
    .action(async (command: string[], opts: LaunchFlags) => {
      const { launch, describeFailure } = await import('../distributed/launcher.js');
      const r = await launch({ ...opts, command: workerCommand(command) });
      if (r.failure) console.error(describeFailure(r.failure));
      process.exitCode = r.exitCode;
    });
}
