/**
 * Calls to agent APIs over mutual TLS: one keep-alive connection pool per party (a node calling
 * its peers, the CLI, the monitor), presenting that party's certificate and trusting only the
 * cluster CA. Every call is bounded by a timeout and an optional abort signal, and never throws
 * for an HTTP status: callers decide what a status means.
 */
import https from 'node:https';
import type { TlsCredentials } from '../certs/credentials.js';
import { agentUrl } from './url.js';

export interface AgentTarget {
  readonly address: string;
  readonly agentPort: number;
}

export interface AgentCall {
  readonly method?: 'GET' | 'POST';
  /** JSON-encoded when present. */
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

export interface AgentAnswer {
  readonly status: number;
  readonly text: string;
  readonly contentType: string;
}

/** A call that got no HTTP answer: refused, reset, TLS refused, timed out or aborted. */
export class AgentUnreachable extends Error {
  constructor(message: string, readonly reason: 'timeout' | 'aborted' | 'network', options?: ErrorOptions) {
    super(message, options);
  }
}

const MAX_ANSWER = 16 * 1024 * 1024;

function pool(credentials: TlsCredentials): https.Agent {
  // Node certificates name their address (IP SAN), so the usual hostname check applies.
  return new https.Agent({ keepAlive: true, maxSockets: 16, ca: credentials.ca, cert: credentials.cert, key: credentials.key });
}

export class AgentClient {
  private agent: https.Agent;

  constructor(credentials: TlsCredentials) {
    this.agent = pool(credentials);
  }

  /**
   * A renewed certificate: calls from now on present it. The old pool's calls in flight finish;
   * its idle connections end when the peers' keep-alive timeout closes them (agent APIs: 5 s),
   * and then nothing holds the pool.
   */
  setCredentials(credentials: TlsCredentials): void {
    this.agent = pool(credentials);
  }

  /** `target` is a node, or the base URL of its agent API (as members publish it in the DCS). */
  request(target: AgentTarget | string, path: string, call: AgentCall): Promise<AgentAnswer> {
    const url = new URL(typeof target === 'string' ? target + path : agentUrl(target, path));
    const payload = call.body === undefined ? undefined : Buffer.from(JSON.stringify(call.body));
    // An I/O bound, not a decision: real time is what the peer's socket lives in.
    const deadline = AbortSignal.timeout(call.timeoutMs);
    const signal = call.signal ? AbortSignal.any([deadline, call.signal]) : deadline;
    return new Promise<AgentAnswer>((resolve, reject) => {
      let settled = false;
      const fail = (err: AgentUnreachable): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        req.destroy();
        reject(err);
      };
      const onAbort = (): void => fail(deadline.aborted
        ? new AgentUnreachable(`no answer from ${url.host} within ${call.timeoutMs}ms`, 'timeout')
        : new AgentUnreachable(`call to ${url.host}${path} aborted`, 'aborted'));
      const req = https.request({
        agent: this.agent, host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port, path: url.pathname + url.search, method: call.method ?? 'GET',
        headers: { ...call.headers, ...(payload && { 'content-type': 'application/json', 'content-length': String(payload.length) }) },
      }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_ANSWER) fail(new AgentUnreachable(`answer from ${url.host}${path} exceeds ${MAX_ANSWER} bytes`, 'network'));
          else chunks.push(c);
        });
        res.on('end', () => {
          if (settled) return;
          settled = true;
          signal.removeEventListener('abort', onAbort);
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), contentType: String(res.headers['content-type'] ?? '') });
        });
        res.on('error', (err) => fail(new AgentUnreachable(`answer from ${url.host}${path} broke off: ${describe(err)}`, 'network', { cause: err })));
      });
      req.on('error', (err) => fail(new AgentUnreachable(`${url.host}: ${describe(err)}`, 'network', { cause: err })));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      req.end(payload);
    });
  }

  /** The answer's JSON (or its text when it is not JSON) with its status. */
  async json<T = unknown>(target: AgentTarget | string, path: string, call: AgentCall): Promise<{ status: number; body: T }> {
    const a = await this.request(target, path, call);
    try {
      return { status: a.status, body: JSON.parse(a.text) as T };
    } catch {
      return { status: a.status, body: a.text as T };
    }
  }

  close(): void {
    this.agent.destroy();
  }
}

/** A short reason: the TLS alert or socket error code rather than a stack-worthy message. */
function describe(err: NodeJS.ErrnoException): string {
  if (/certificate required/i.test(err.message)) return 'refused: the agent requires a client certificate from the cluster CA';
  if (/unknown ca|bad certificate|certificate unknown/i.test(err.message)) return 'refused: the agent does not accept this certificate (another cluster\'s CA?)';
  if (err.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' || err.code === 'SELF_SIGNED_CERT_IN_CHAIN' || err.code === 'DEPTH_ZERO_SELF_SIGNED_CERT') {
    return `its certificate is not from this cluster's CA (${err.code})`;
  }
  return err.code ?? err.message;
}
