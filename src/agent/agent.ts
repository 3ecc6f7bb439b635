/**
 * `difw agent`: the long-running process of one network namespace (host-firewall mode).
 *
 * It owns the datapath of its namespace: it loads the BPF objects (adopting the maps pinned by a
 * previous agent, so conntrack and limits survive a restart), compiles the state file into rule
 * tables, attaches the ingress chain (XDP, or TC on veth: `DIFW_INGRESS_HOOK`) and TC egress to
 * every interface but lo (and to interfaces that appear later),
 * turns ring-buffer events into the event log and serves the local API.
 *
 * Restart without a gap: XDP/TC programs are attached through netlink, not through links owned
 * by this process, so they keep enforcing after the agent dies (even `kill -9`). A new agent
 * writes the same tables into the adopted maps and *replaces* the programs atomically.
 */
import { mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { pino, destination } from 'pino';
import { DifwError } from '../errors.js';
import { setRootLogger, type Logger } from '../log.js';
import { ensureBpffs, netnsPaths, runningAgentPid, type NetnsPaths } from '../state/paths.js';
import { loadState } from '../state/store.js';
import { Datapath, ingressHookFor, parseIngressHookSetting } from '../datapath/loader.js';
import { compileFirewall } from '../policy/ufw-compile.js';
import { firewallLinks, LinkWatcher, type Link } from './links.js';
import { startApi } from './api.js';
import { EventLog, formatEvent } from './eventlog.js';

export const AGENT_READY_LINE = 'difw-agent-ready';

function agentLogger(paths: NetnsPaths): Logger {
  const l = pino({ level: process.env.DIFW_LOG_LEVEL ?? 'info', base: { pid: process.pid, netns: paths.id } }, destination({ dest: paths.agentLog, sync: true, mkdir: true }));
  setRootLogger(l);
  return l;
}

function otherAgentAlive(paths: NetnsPaths): number | undefined {
  const pid = runningAgentPid(paths.pidFile);
  return pid === process.pid ? undefined : pid;
}

/**
 * A namespace nobody else uses any more: no `ip netns` name points at it and no process but this
 * agent (and its children) lives in it. The agent alone would keep it alive forever, so it exits.
 */
export function netnsOrphaned(inode: number): boolean {
  try {
    for (const n of readdirSync('/run/netns')) if (statSync(`/run/netns/${n}`).ino === inode) return false;
  } catch {
    /* no named namespaces at all */
  }
  const self = String(process.pid);
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || pid === self) continue;
    try {
      if (readlinkSync(`/proc/${pid}/ns/net`) !== `net:[${inode}]`) continue;
      const ppid = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1];
      if (ppid !== self) return false;
    } catch {
      /* exited meanwhile */
    }
  }
  return true;
}

export async function runAgent(opts: { objDir: string }): Promise<void> {
  if (!ensureBpffs()) throw new DifwError('DIFW_E_BPF_SYSCALL', 'Cannot see the difw bpffs from this mount namespace');
  const paths = netnsPaths();
  mkdirSync(paths.runDir, { recursive: true, mode: 0o700 });
  mkdirSync(paths.pinDir, { recursive: true, mode: 0o700 });
  const other = otherAgentAlive(paths);
  if (other) throw new DifwError('DIFW_E_AGENT', `Cannot start the agent: pid ${other} already runs for this namespace`);
  const log = agentLogger(paths);
  writeFileSync(paths.pidFile, String(process.pid), { mode: 0o600 });

  const hookSetting = parseIngressHookSetting(process.env.DIFW_INGRESS_HOOK);
  const dp = await Datapath.load({ pinDir: paths.pinDir, objDir: opts.objDir, logger: log });
  const attached = new Map<number, Link>();
  let links: Link[] = firewallLinks();
  let generation = 0;
  let usesIfaceNames = false;

  const applyState = () => {
    const state = loadState(paths);
    const byName = new Map(links.map((l) => [l.name, l.ifindex]));
    const compiled = compileFirewall(state, { ifindex: (name: string) => byName.get(name) });
    usesIfaceNames = [...state.rules, ...state.rules6].some((r) => r.ifaceIn !== '' || r.ifaceOut !== '');
    dp.apply(compiled);
    generation++;
    log.info({ generation, rules: state.rules.length + state.rules6.length }, 'state applied');
    return { generation };
  };

  const syncLinks = () => {
    links = firewallLinks();
    const now = new Set(links.map((l) => l.ifindex));
    for (const l of links) {
      if (attached.has(l.ifindex)) continue;
      try {
        const hook = ingressHookFor(l.kind, hookSetting);
        dp.attach(l.ifindex, { hook });
        attached.set(l.ifindex, l);
        log.info({ ifname: l.name, ifindex: l.ifindex, kind: l.kind, hook }, 'attached');
      } catch (e) {
        log.error({ err: e, ifname: l.name }, 'attach failed');
      }
    }
    for (const ifindex of [...attached.keys()]) if (!now.has(ifindex)) attached.delete(ifindex);
  };

  // Tables first, then programs: a replaced program must find the complete rule set.
  applyState();
  syncLinks();

  const watcher = new LinkWatcher(() => {
    try {
      const before = links.map((l) => `${l.ifindex}:${l.name}`).join(',');
      syncLinks();
      const after = links.map((l) => `${l.ifindex}:${l.name}`).join(',');
      if (usesIfaceNames && before !== after) applyState();
    } catch (e) {
      log.error({ err: e }, 'link change handling failed');
    }
  });
  watcher.start();

  const events = new EventLog(paths.eventLog);
  const ifname = (ifindex: number) => attached.get(ifindex)?.name ?? (ifindex ? String(ifindex) : '');
  const stopEvents = dp.onEvents((evs) => events.append(evs.map((e) => formatEvent({ ...e, inIf: ifname(e.inIfindex), outIf: ifname(e.outIfindex) }))));

  let stopping = false;
  const shutdown = async (detach: boolean) => {
    if (stopping) return;
    stopping = true;
    watcher.stop();
    stopEvents();
    await api.close().catch(() => {});
    if (detach) {
      for (const l of firewallLinks()) {
        try {
          dp.detach(l.ifindex);
        } catch (e) {
          log.warn({ err: e, ifname: l.name }, 'detach failed');
        }
      }
      dp.close();
      rmSync(paths.pinDir, { recursive: true, force: true });
      log.info('datapath detached and unpinned');
    } else dp.close();
    rmSync(paths.pidFile, { force: true });
    rmSync(paths.socket, { force: true });
    log.info({ detach }, 'agent stopped');
    setImmediate(() => process.exit(0));
  };

  const api = await startApi(
    paths.socket,
    {
      health: () => ({ ok: true, pid: process.pid, netns: paths.id, generation, interfaces: [...attached.values()].map((l) => l.name) }),
      reload: async () => applyState(),
      shutdown,
      stats: () => dp.stats(),
    },
    log,
  );
  if (paths.id !== 'host') {
    setInterval(() => {
      if (netnsOrphaned(paths.inode)) {
        log.warn('network namespace deleted: nobody else uses it, removing its state and exiting');
        // Its interfaces are gone with it; drop the pins (they hold kernel memory) and the
        // state, so a future namespace that reuses the inode number starts clean.
        rmSync(paths.pinDir, { recursive: true, force: true });
        rmSync(paths.stateDir, { recursive: true, force: true });
        void shutdown(false).then(() => rmSync(paths.runDir, { recursive: true, force: true }));
      }
    }, 5000).unref();
  }
  // SIGTERM (systemd stop, kill) leaves the datapath enforcing, exactly like a crash would.
  process.on('SIGTERM', () => void shutdown(false));
  process.on('SIGINT', () => void shutdown(false));
  log.info({ interfaces: [...attached.values()].map((l) => l.name) }, 'agent ready');
  process.stdout.write(`${AGENT_READY_LINE}\n`);
}
