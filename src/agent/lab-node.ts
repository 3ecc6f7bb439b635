/**
 * The node agent of a `difw lab` node (identity mode). One per lab node, running inside the
 * node's network namespace. It serves a small API on a root-only unix socket:
 *   GET /v1/health   -> {node, revision, datapath, pods, eventsLost}
 *   PUT /v1/tables   {revision, tables, pods, claims} -> applies it, answers {node, revision, applyMs}
 * Pushes are applied one at a time in arrival order; a push older than the enforced revision is
 * acknowledged without being applied (the newer state already covers it).
 * On SIGTERM/SIGINT it detaches everything it attached and exits.
 */
import { chmodSync, existsSync, unlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BPF_OBJ_DIR } from '../state/paths.js';
import { fastify } from 'fastify';
import { pino } from 'pino';
import { setRootLogger } from '../log.js';
import { TablesPush } from '../controlplane/protocol.js';
import { type NodeDatapath, NullDatapath } from '../lab/node-datapath.js';

export interface LabNodeAgentOptions {
  node: string;
  nodeId: number;
  labDir: string;
  socket: string;
  bpffs: string;
  cgroup: string;
  /** where the compiled BPF objects are (default: BPF_OBJ_DIR, <repo>/build or $DIFW_BPF_DIR) */
  objDir?: string;
  /** builds the datapath; default: the real one unless DIFW_LAB_DATAPATH=none */
  datapath?: (o: import('../lab/node-datapath.js').NodeDatapathOptions) => Promise<NodeDatapath>;
}

export async function runLabNodeAgent(opts: LabNodeAgentOptions): Promise<void> {
  const log = pino({ level: process.env.DIFW_LOG_LEVEL ?? 'info', base: { node: opts.node, pid: process.pid } });
  setRootLogger(log);
  const objDir = opts.objDir ?? BPF_OBJ_DIR;
  const mk = opts.datapath ?? (await import('../lab/pod-datapath-adapter.js')).makeNodeDatapath;
  let dp: NodeDatapath;
  try {
    dp = process.env.DIFW_LAB_DATAPATH === 'none' ? new NullDatapath() : await mk({ node: opts.node, nodeId: opts.nodeId, bpffs: opts.bpffs, cgroup: opts.cgroup, objDir, log });
  } catch (e) {
    log.fatal({ err: e }, 'Cannot load the node datapath');
    process.exit(1);
  }
  let revision = 0;
  let pods = 0;
  let queue: Promise<unknown> = Promise.resolve();

  const app = fastify({ loggerInstance: log.child({ component: 'api' }), bodyLimit: 64 * 1024 * 1024, disableRequestLogging: true });
  app.get('/v1/health', async () => ({ node: opts.node, revision, datapath: dp.kind, pods, eventsLost: dp.eventsLost?.() ?? 0 }));
  app.put('/v1/tables', async (req, reply) => {
    const parsed = TablesPush.safeParse(req.body);
    if (!parsed.success) {
      return reply.code(400).send({ message: `Cannot read the tables push: ${parsed.error.issues[0]?.message ?? 'invalid'}` });
    }
    const push = parsed.data;
    const job = queue.then(async () => {
      if (push.revision < revision) return 0;
      const t0 = performance.now();
      await dp.apply(push);
      revision = push.revision;
      pods = push.pods.length;
      return performance.now() - t0;
    });
    queue = job.catch(() => undefined);
    try {
      const applyMs = await job;
      log.info({ revision: push.revision, applyMs }, 'enforcing');
      return { node: opts.node, revision: push.revision, applyMs };
    } catch (e) {
      log.error({ err: e, revision: push.revision }, 'apply failed');
      return reply.code(500).send({ message: (e as Error).message });
    }
  });

  mkdirSync(dirname(opts.socket), { recursive: true, mode: 0o700 });
  if (existsSync(opts.socket)) unlinkSync(opts.socket);
  const oldMask = process.umask(0o177);
  try {
    await app.listen({ path: opts.socket });
  } finally {
    process.umask(oldMask);
  }
  chmodSync(opts.socket, 0o600);
  writeFileSync(join(dirname(opts.socket), 'agent.pid'), String(process.pid));
  log.info({ socket: opts.socket, datapath: dp.kind }, 'lab node agent ready');

  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ sig }, 'stopping');
    try {
      await app.close();
      await dp.close();
    } catch (e) {
      log.error({ err: e }, 'error while stopping');
    }
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
