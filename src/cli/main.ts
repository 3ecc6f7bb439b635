#!/usr/bin/env node
/**
 * difw command line. Two grammars share it:
 *   - difw's own subcommands (batch, agent, log, apply, lab, `delete -f FILE`, ...), registered
 *     by modules listed in ./registry.ts and parsed by commander;
 *   - everything else is ufw's command line, handled exactly like ufw (./ufw-commands.ts).
 * `delete` belongs to both: `delete -f|--file ...` goes to difw's module, any other `delete`
 * (`delete 3`, `delete allow 22`) to the ufw grammar.
 */
import { runUfwCommand } from './ufw-commands.js';

/** First words that are always ufw's: answering them needs neither commander nor the modules. */
const UFW_WORDS = new Set([
  'enable', 'disable', 'help', '--help', '-h', 'version', '--version', 'reload', 'reset',
  'app', 'logging', 'default', 'status', 'show', 'allow', 'deny', 'reject', 'limit',
  'insert', 'prepend', 'route', 'rule', '--dry-run', '--force', '-f',
]);

const isDifwDelete = (argv: string[]) =>
  argv[0] === 'delete' && (argv[1] === '-f' || argv[1] === '--file' || (argv[1] ?? '').startsWith('--file='));

async function main(argv: string[]): Promise<number> {
  const first = argv[0] ?? '';
  if (argv.length > 0 && ((UFW_WORDS.has(first.toLowerCase()) || first === 'delete') && !isDifwDelete(argv))) {
    return runUfwCommand(argv);
  }
  const [{ Command }, { subcommandModules }] = await Promise.all([import('commander'), import('./registry.js')]);
  const program = new Command('difw');
  program.description('distributed identity firewall: ufw command line plus difw subcommands');
  for (const register of subcommandModules) register(program);
  const names = new Set(program.commands.flatMap((c) => [c.name(), ...c.aliases()]));
  if (argv.length > 0 && names.has(first) && (first !== 'delete' || isDifwDelete(argv))) {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  }
  return runUfwCommand(argv);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`ERROR: ${(e as Error)?.message ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
