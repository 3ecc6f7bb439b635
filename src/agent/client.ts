/** A tiny JSON client for the agent's unix-socket API (node:http with socketPath). */
import { request } from 'node:http';
import { DifwError } from '../errors.js';

export async function callAgent<T = unknown>(socket: string, method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, timeoutMs = 30_000): Promise<T> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise<T>((resolve, reject) => {
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
          let json: unknown = undefined;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            /* not JSON */
          }
          if ((res.statusCode ?? 500) >= 400) {
            const msg = (json as { message?: string } | undefined)?.message ?? text;
            reject(new DifwError('DIFW_E_AGENT', `Cannot ${method} ${path} on the agent: ${msg}`));
          } else resolve(json as T);
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', (e) => reject(new DifwError('DIFW_E_AGENT', `Cannot reach the agent at ${socket}: ${e.message}`, { cause: e })));
    if (payload) req.write(payload);
    req.end();
  });
}
