/** `difw apply -f FILE|-` and `difw delete -f FILE|-`: objects for the running lab. */
import type { Command } from 'commander';
import { DifwError } from '../errors.js';
import { readInput } from './lab-commands.js';

function requireRoot(): void {
  if (process.getuid && process.getuid() !== 0) throw new DifwError('DIFW_E_NOT_ROOT', 'Cannot change the lab: you need to be root');
}

export function registerObjectCommands(program: Command): void {
  program
    .command('apply')
    .description('apply Namespace, Pod, NetworkPolicy and DifwPolicy objects; returns once every node enforces them')
    .requiredOption('-f, --file <file>', 'YAML or JSON file, - for stdin')
    .action(async (o: { file: string }) => {
      requireRoot();
      const [{ parseObjects }, { labController }] = await Promise.all([import('../controlplane/objects.js'), import('../lab/runtime.js')]);
      const lines = await labController().apply(parseObjects(readInput(o.file), o.file));
      if (lines.length) process.stdout.write(lines.join('\n') + '\n');
    });

  program
    .command('delete')
    .description('delete the objects named in a file; returns once every node enforces the change')
    .requiredOption('-f, --file <file>', 'YAML or JSON file, - for stdin')
    .action(async (o: { file: string }) => {
      requireRoot();
      const [{ parseObjects }, { labController }] = await Promise.all([import('../controlplane/objects.js'), import('../lab/runtime.js')]);
      const lines = await labController().delete(parseObjects(readInput(o.file), o.file));
      if (lines.length) process.stdout.write(lines.join('\n') + '\n');
    });
}
