// The `sharpen` command line: thin commands over the library (docs/architecture.md, "Command line"
// and "Conventions").
import { Command } from 'commander';
import { registerModelCommands } from './model.js';
import { registerWorldCommands } from './world.js';

const program = new Command();
program
  .name('sharpen')
  .description('Reward fine-tuning of diffusion models with Diffusion-Sharpening, on libtorch')
  .showHelpAfterError()
  .option('--device <cpu|cuda>', 'where tensors are created and models run (default cpu); cuda needs an addon built against a CUDA libtorch')
  .option('--bf16', 'bf16 mixed precision (autocast) on the device')
  .hook('preAction', async () => (await import('../torch/device-flags.js')).applyDeviceFlags(program.opts()));

program
  .command('info')
  .description('print the engine build: libtorch version, threads, CUDA')
  .action(async () => {
    const torch = await import('../torch/index.js');
    const b = torch.buildInfo();
    console.log(JSON.stringify({ torch: b.torch, cuda: b.cuda, cudaDevices: b.cudaDeviceCount, threads: torch.getNumThreads() }));
  });

registerWorldCommands(program);
registerModelCommands(program);
(await import('./labels.js')).registerLabelCommands(program);
(await import('./finetune.js')).registerFinetuneCommands(program);
(await import('./reward.js')).registerRewardCommands(program);
(await import('./demo.js')).registerDemoCommand(program);
(await import('./paper.js')).registerPaperCommand(program);
(await import('./launch.js')).registerLaunchCommand(program);
(await import('./serve.js')).registerServeCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  console.error(`sharpen: ${(e as Error).message}`);
  process.exit(1);
}
