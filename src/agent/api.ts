/**
 * The agent's local API: fastify on a root-only unix socket (mode 0600 in a 0700 directory).
 * Routes are registered by the agent through `AgentApiHandlers`, so this module knows nothing
 * about the datapath.
 */
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import Fastify from 'fastify';
import { z } from 'zod';
import { Registry, Gauge } from 'prom-client';
import type { Logger } from '../log.js';

export interface AgentApiHandlers {
  health(): unknown;
  reload(): Promise<unknown>;
  shutdown(detach: boolean): Promise<void>;
  stats(): Record<string, number | bigint>;
}

const ShutdownBody = z.object({ detach: z.boolean().default(true) }).default({ detach: true });

export async function startApi(socket: string, h: AgentApiHandlers, log: Logger): Promise<{ close(): Promise<void> }> {
  const app = Fastify({ loggerInstance: log.child({ component: 'api' }), disableRequestLogging: true });
  const registry = new Registry();
  const gauge = new Gauge({ name: 'difw_datapath_packets', help: 'Datapath counters by kind', labelNames: ['kind'], registers: [registry] });

  app.get('/v1/health', async () => h.health());
  app.post('/v1/reload', async () => h.reload());
  app.post('/v1/shutdown', async (req, reply) => {
    const body = ShutdownBody.safeParse(req.body ?? undefined);
    if (!body.success) return reply.code(400).send({ message: `Cannot parse the shutdown request: ${body.error.message}` });
    // Answer first; the agent exits after the reply is flushed.
    setImmediate(() => void h.shutdown(body.data.detach));
    return { stopping: true };
  });
  app.get('/v1/stats', async () => Object.fromEntries(Object.entries(h.stats()).map(([k, v]) => [k, Number(v)])));
  app.get('/metrics', async (_req, reply) => {
    for (const [k, v] of Object.entries(h.stats())) gauge.set({ kind: k }, Number(v));
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
  app.setErrorHandler((err, _req, reply) => {
    log.error({ err }, 'API request failed');
    void reply.code(500).send({ message: err instanceof Error ? err.message : String(err) });
  });

  if (existsSync(socket)) unlinkSync(socket);
  await app.listen({ path: socket });
  chmodSync(socket, 0o600);
  return { close: () => app.close() };
}
