/**
 * How the CLI drives the per-namespace agent: start it (if not running), ask it to reload the
 * state file, and stop it. Implemented in src/agent/; the CLI only calls these.
 */
import type { NetnsPaths } from '../state/paths.js';

export interface AgentControl {
  /** Start the agent for this namespace unless one answers; resolve once it enforces the state file. */
  start(paths: NetnsPaths, opts?: { force?: boolean }): Promise<void>;
  /** Ask the running agent to re-read the state file and swap the datapath tables atomically. */
  reload(paths: NetnsPaths): Promise<void>;
  /** Stop the agent and detach the datapath from every interface. */
  stop(paths: NetnsPaths): Promise<void>;
  /** true if an agent answers on the socket. */
  running(paths: NetnsPaths): Promise<boolean>;
}
