/**
 * The one logger. Library code takes a `Logger` (a pino child) and never prints directly; the
 * CLI keeps its logger quiet (warn, to stderr) so command output stays identical to ufw's.
 */
import { pino, destination, type Logger } from 'pino';

export type { Logger };

let root: Logger | undefined;

export function rootLogger(): Logger {
  root ??= pino({ level: process.env.DIFW_LOG_LEVEL ?? 'warn', base: { pid: process.pid } }, destination(2));
  return root;
}

/** Replace the root logger (the agent logs to its own file at info). */
export function setRootLogger(l: Logger): void {
  root = l;
}

export function logger(component: string): Logger {
  return rootLogger().child({ component });
}
