/**
 * JSON over HTTP on an agent's unix socket (node:http with `socketPath`): one request, JSON both
 * ways, a hard timeout so a hung agent fails the command instead of hanging it. Used by the CLI
 * (host-firewall agent) and by the lab control plane (node agents).
 */
import { request } from 'node:http';
import { DifwError } from '../errors.js';

export interface AgentReply {
  status: number;
  body: unknown;
}

/** Send one request; resolves with the status and the parsed body (text if not JSON). */
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

/** Like `agentRequest`, but an HTTP error status becomes a DifwError carrying the agent's message. */
export async function callAgent<T = unknown>(socket: string, method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, timeoutMs = 30_000): Promise<T> {
  const r = await agentRequest(socket, method, path, body, timeoutMs);
  if (r.status >= 400 || r.status === 0) {
    const msg = typeof r.body === 'object' && r.body !== null && 'message' in r.body ? String((r.body as { message: unknown }).message) : String(r.body);
    throw new DifwError('DIFW_E_AGENT', `Cannot ${method} ${path} on the agent: ${msg}`);
  }
  return r.body as T;
}
