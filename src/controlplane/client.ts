/**
 * HTTP over a node agent's unix socket. node:http with `socketPath` is enough here: one request
 * per push, JSON both ways, a hard timeout so a hung agent fails the command instead of hanging it.
 */
import { request } from 'node:http';
import { DifwError } from '../errors.js';

export interface AgentReply {
  status: number;
  body: unknown;
}

export function agentRequest(socket: string, method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<AgentReply> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      {
        socketPath: socket,
        method,
        path,
        headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : null;
          } catch {
            /* keep the text */
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => reject(new DifwError('DIFW_E_AGENT', `Cannot reach the agent at ${socket}: ${e.message}`, { cause: e })));
    if (payload) req.write(payload);
    req.end();
  });
}

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
