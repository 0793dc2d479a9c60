/**
 * Agent APIs speak mutual TLS: tests call them with the cluster's admin certificate (issued from
 * the CA in the cluster's state folder, as the CLI does), or with a throwaway PKI of their own.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AgentClient, type AgentTarget } from '../../src/control-plane/agent-api/index.js';
import { adminCredentials, nodeCredentials, type TlsCredentials } from '../../src/control-plane/certs/index.js';
import type { Role } from '../../src/config/types.js';

const clients = new Map<string, AgentClient>();

/** The admin client of the cluster whose state folder is `stateDir` (one per folder, kept). */
export async function adminClient(stateDir: string, cluster = 'test'): Promise<AgentClient> {
  let c = clients.get(stateDir);
  if (!c) {
    c = new AgentClient(await adminCredentials({ stateDir, cluster }));
    clients.set(stateDir, c);
  }
  return c;
}

/** GET or POST (with a JSON body) on an agent API as the admin; the answer's status and parsed JSON (or text). */
export async function agentCall<T = any>(stateDir: string, target: AgentTarget, method: 'GET' | 'POST', pathAndQuery: string, body?: unknown, timeoutMs = 2000): Promise<{ status: number; body: T }> {
  const c = await adminClient(stateDir);
  return c.json<T>(target, pathAndQuery, { method, timeoutMs, ...(body !== undefined && { body }) });
}

/** A throwaway cluster PKI in a temp folder: node and admin credentials on demand. */
export class TestPki {
  readonly stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-pki-'));
  constructor(readonly cluster = 'test') {}

  node(name: string, role: Role, address: string): Promise<TlsCredentials> {
    return nodeCredentials({ stateDir: this.stateDir, cluster: this.cluster }, { name, role, address });
  }

  admin(): Promise<TlsCredentials> {
    return adminCredentials({ stateDir: this.stateDir, cluster: this.cluster });
  }

  remove(): void {
    fs.rmSync(this.stateDir, { recursive: true, force: true });
  }
}
