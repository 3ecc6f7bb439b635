/** difw's own subcommands around the agent: `agent` (run it in the foreground) and `log`. */
import type { Command } from 'commander';
import { readEventLog } from '../agent/eventlog.js';
import { BPF_OBJ_DIR, netnsPaths } from '../state/paths.js';

export function registerAgentCommands(program: Command): void {
  program
    .command('agent')
    .description('run the per-namespace agent in the foreground (started by `difw enable`)')
    .action(async () => {
      const { runAgent } = await import('../agent/agent.js');
      await runAgent({ objDir: BPF_OBJ_DIR });
    });

  program
    .command('log')
    .description('print the firewall event log of this network namespace')
    .option('-f, --follow', 'keep printing new events')
    .action(async (opts: { follow?: boolean }) => {
      const r = readEventLog(netnsPaths().eventLog, (s) => process.stdout.write(s), !!opts.follow);
      if (opts.follow) {
        process.on('SIGINT', r.stop);
        process.on('SIGTERM', r.stop);
      }
      await r.done;
    });
}
