/** Waiting for a node agent; the request itself is the shared one in src/agent/client.ts. */
import { DifwError } from '../errors.js';
import { agentRequest } from '../agent/client.js';

export { agentRequest, type AgentReply } from '../agent/client.js';

/** Poll GET /v1/health until the agent answers or the deadline passes. */
export async function waitHealthy(socket: string, timeoutMs: number, alive?: () => boolean): Promise<unknown> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (alive && !alive()) throw new DifwError('DIFW_E_AGENT', `Cannot start the agent at ${socket}: it exited`);
    try {
      const r = await agentRequest(socket, 'GET', '/v1/health', undefined, 1000);
      if (r.status === 200) return r.body;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 30));
  }
  throw new DifwError('DIFW_E_AGENT', `Cannot start the agent at ${socket}: ${last || 'no answer'}`);
}
