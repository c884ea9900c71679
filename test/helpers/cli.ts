// Runs a `sharpen` command in-process, the way bin/sharpen.js does, with console output captured:
// a commander program with only the given commands registered, exiting by exception instead of
// process.exit, and process.exitCode put back afterwards.
import { Command } from 'commander';

/** The lines the command wrote to console.error, then the message of what it threw (if anything). */
export async function cliErrors(register: (program: Command) => void, args: string[]): Promise<string> {
  const program = new Command().name('sharpen').exitOverride();
  register(program);
  const err: string[] = [];
  const { log, error } = console;
  const code = process.exitCode;
  console.log = () => {};
  console.error = (...a: unknown[]) => err.push(a.join(' '));
  try {
    await program.parseAsync(['node', 'sharpen', ...args]);
  } catch (e) {
    err.push((e as Error).message);
  } finally {
    Object.assign(console, { log, error });
    process.exitCode = code;
  }
  return err.join('\n');
}
