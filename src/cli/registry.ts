/**
 * difw's own subcommands (everything that is not ufw's grammar). Each module registers its
 * commands on the commander program; main.ts dispatches argv[0] to commander when it names one
 * of them, and everything else to the ufw grammar. Modules should import heavy code (BPF, the
 * agent) inside their action handlers so plain ufw commands stay fast.
 */
import type { Command } from 'commander';
import { registerAgentCommands } from './agent-commands.js';
import { registerBatchCommand } from './batch.js';
import { registerLabCommands } from './lab-commands.js';
import { registerObjectCommands } from './objects-commands.js';

export type SubcommandModule = (program: Command) => void;

export const subcommandModules: SubcommandModule[] = [registerAgentCommands, registerBatchCommand, registerLabCommands, registerObjectCommands];
