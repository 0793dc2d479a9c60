/**
 * A whole cluster on one machine: the `bulwark up` process starts every node as its own OS
 * process (own process group, own log file), reaps them, and answers `kill`/`start`/`down`
 * over a unix socket in the state folder. It does not restart nodes by itself: a drill that
 * kills a node expects it to stay down until `bulwark start`.
 */
import fs from 'node:fs';
import http from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';
import type { ClusterSpec, NodeSpec } from '../../config/types.js';
import { findNode, loadClusterFile } from '../../config/index.js';
import { BulwarkError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { layoutOf, type Layout } from './layout.js';
import { signalGroup, writePidFile } from './processes.js';
import { CLI_MAIN } from '../../cli/bin-path.js';


export interface NodeProcess {
  readonly node: NodeSpec;
  child: ChildProcess | undefined;
  state: 'starting' | 'running' | 'exited' | 'killed';
  lastExit?: { code: number | null; signal: string | null; at: string };
  exited?: Promise<void>;
}

export class LocalCluster {
  readonly layout: Layout;
  private readonly procs = new Map<string, NodeProcess>();
  private control: http.Server | undefined;
  private stopping = false;
  onAllStopped: (() => void) | undefined;

  constructor(public spec: ClusterSpec, private readonly log: Logger) {
    this.layout = layoutOf(spec);
    for (const node of spec.nodes) this.procs.set(node.name, { node, child: undefined, state: 'exited' });
  }

  nodes(): NodeProcess[] {
    return [...this.procs.values()];
  }

  startAll(): void {
    for (const p of this.procs.values()) this.startNode(p.node.name);
  }

  startNode(name: string): NodeProcess {
    const node = findNode(this.spec, name);
    const p = this.procs.get(node.name)!;
    if (p.state === 'running' || p.state === 'starting') {
      throw new BulwarkError('BWK_ALREADY_RUNNING', `node ${name} is already running (pid ${p.child?.pid})`);
    }
    fs.mkdirSync(this.layout.nodeDir(name), { recursive: true });
    const out = fs.openSync(this.layout.nodeLog(name), 'a');
    const child = spawn(process.execPath, [CLI_MAIN, 'agent', '--node', name, '-c', this.spec.sourcePath], {
      detached: true, // its own process group: `kill` takes the node and its children together
      stdio: ['ignore', out, out],
      // The node stops by itself if this process disappears (see cli/verbs/agent.ts).
      env: { ...process.env, BULWARK_LOG_FORMAT: 'json', BULWARK_UP_PID: String(process.pid) },
    });
    fs.closeSync(out);
    p.child = child;
    p.state = 'running';
    if (child.pid) writePidFile(this.layout.nodePid(name), child.pid);
    p.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        p.lastExit = { code, signal, at: new Date().toISOString() };
        // A node killed and started again at once: this is the old child's exit, and the new
        // child (and its pid file) must stay on record.
        if (p.child !== child) return resolve();
        if (p.state !== 'killed') p.state = 'exited';
        p.child = undefined;
        fs.rmSync(this.layout.nodePid(name), { force: true });
        if (!this.stopping) {
          const how = signal ? `signal ${signal}` : `code ${code}`;
          this.log.warn({ node: name, code, signal }, `node ${name} exited (${how}); \`bulwark start ${name}\` starts it again`);
        }
        resolve();
      });
    });
    child.once('error', (err) => this.log.error({ node: name, err: err.message }, `node ${name} could not be started: ${err.message}`));
    this.log.info({ node: name, pid: child.pid }, `started node ${name} (${node.role}, ${node.address}) as pid ${child.pid}`);
    return p;
  }

  /**
   * `bulwark reload` on a local cluster: re-read the file, start the nodes it added and stop
   * (gracefully) the ones it removed. The running nodes have already applied the file by then,
   * so the lbs route to a new web node once it is healthy and no longer to a removed one.
   */
  async sync(): Promise<{ started: string[]; stopped: string[] }> {
    const next = loadClusterFile(this.spec.sourcePath);
    const names = new Set(next.nodes.map((n) => n.name));
    const removed = [...this.procs.values()].filter((p) => !names.has(p.node.name));
    this.spec = next;
    const added = next.nodes.filter((n) => !this.procs.has(n.name));
    for (const n of added) this.procs.set(n.name, { node: n, child: undefined, state: 'exited' });
    for (const n of added) this.startNode(n.name);
    await Promise.all(removed.map(async (p) => {
      if (p.child?.pid) {
        p.state = 'killed'; // an intended stop: no "exited" warning
        signalGroup(p.child.pid, 'SIGTERM');
        await p.exited;
      }
      this.procs.delete(p.node.name);
      this.log.info({ node: p.node.name }, `stopped node ${p.node.name}: it is no longer in the cluster file`);
    }));
    return { started: added.map((n) => n.name), stopped: removed.map((p) => p.node.name) };
  }

  /** SIGKILL a node and everything it supervises (for drills). */
  killNode(name: string): NodeProcess {
    const node = findNode(this.spec, name);
    const p = this.procs.get(node.name)!;
    if (!p.child?.pid) throw new BulwarkError('BWK_NOT_RUNNING', `node ${name} is not running`);
    p.state = 'killed';
    signalGroup(p.child.pid, 'SIGKILL');
    this.log.warn({ node: name }, `killed node ${name} (SIGKILL to its process group)`);
    return p;
  }

  /** SIGTERM every node, SIGKILL what is left after graceMs. */
  async stopAll(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    const running = [...this.procs.values()].filter((p) => p.child?.pid);
    for (const p of running) signalGroup(p.child!.pid!, 'SIGTERM');
    const timer = setTimeout(() => {
      for (const p of running) if (p.child?.pid) signalGroup(p.child.pid, 'SIGKILL');
    }, graceMs);
    await Promise.all(running.map((p) => p.exited));
    clearTimeout(timer);
  }

  /** Serve kill/start/down/nodes on the control socket. */
  async serveControl(): Promise<void> {
    fs.rmSync(this.layout.controlSocket, { force: true });
    this.control = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://control');
      const reply = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body) + '\n');
      };
      try {
        const name = url.searchParams.get('node') ?? '';
        if (req.method === 'POST' && url.pathname === '/kill') {
          const p = this.killNode(name);
          void p.exited?.then(() => undefined);
          reply(200, { node: name, state: p.state });
        } else if (req.method === 'POST' && url.pathname === '/start') {
          // A node just killed may not be reaped yet: start it once the old process is gone.
          const old = this.procs.get(name);
          const gone = old?.state === 'killed' && old.child ? old.exited : undefined;
          void Promise.resolve(gone).then(() => {
            try {
              const p = this.startNode(name);
              reply(200, { node: name, pid: p.child?.pid });
            } catch (err) {
              const e = err as Error & { code?: string };
              reply(e.code === 'BWK_NODE_UNKNOWN' ? 404 : 409, { error: e.message, code: e.code });
            }
          });
        } else if (req.method === 'POST' && url.pathname === '/sync') {
          void this.sync().then((r) => reply(200, r), (err: Error) => reply(400, { error: err.message }));
        } else if (req.method === 'POST' && url.pathname === '/down') {
          reply(202, { stopping: true });
          void this.stopAll().then(() => this.onAllStopped?.());
        } else if (req.method === 'GET' && url.pathname === '/nodes') {
          reply(200, this.nodes().map((p) => ({ name: p.node.name, state: p.state, pid: p.child?.pid, lastExit: p.lastExit })));
        } else {
          reply(404, { error: `unknown control request ${req.method} ${url.pathname}` });
        }
      } catch (err) {
        const e = err as Error & { code?: string };
        reply(e.code === 'BWK_NODE_UNKNOWN' ? 404 : 409, { error: e.message, code: e.code });
      }
    });
    await new Promise<void>((resolve, reject) => {
      this.control!.once('error', reject);
      this.control!.listen(this.layout.controlSocket, () => resolve());
    });
    fs.chmodSync(this.layout.controlSocket, 0o600);
  }

  async closeControl(): Promise<void> {
    const c = this.control;
    if (!c) return;
    c.closeAllConnections();
    await new Promise<void>((resolve) => c.close(() => resolve()));
    fs.rmSync(this.layout.controlSocket, { force: true });
  }
}

/** Talk to a running `bulwark up` through its control socket. */
export async function controlRequest(layout: Layout, method: 'GET' | 'POST', pathAndQuery: string, timeoutMs = 5000): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: layout.controlSocket, method, path: pathAndQuery, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
        } catch {
          resolve({ status: res.statusCode ?? 0, body: text });
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('control socket timeout')));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        reject(new BulwarkError('BWK_NOT_RUNNING', `no local cluster is running from ${layout.root} (start one with \`bulwark up\`)`));
      } else reject(err);
    });
    req.end();
  });
}
