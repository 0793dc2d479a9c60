/** What a node's role contributes: its work, its health, its status and its API routes. */
import type { ClusterSpec, NodeSpec, Role } from '../../config/types.js';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import type { Registry } from 'prom-client';
import type { AgentApi, AgentClient } from '../../control-plane/agent-api/index.js';
import type { TlsCredentials } from '../../control-plane/certs/index.js';
import type { VoteBook } from '../../control-plane/standby/index.js';

export interface RoleContext {
  readonly spec: ClusterSpec;
  readonly node: NodeSpec;
  readonly clock: Clock;
  readonly log: Logger;
  readonly registry: Registry;
  /** This node's folder under the state folder (logs, data). */
  readonly dir: string;
  /** This node's certificate (from the cluster CA) and the client that calls its peers with it. */
  readonly credentials: TlsCredentials;
  readonly agents: AgentClient;
  /** This node's vote in the VIP election, when it is one of the voters. */
  readonly voteBook?: VoteBook;
}

export interface RoleHealth {
  readonly healthy: boolean;
  readonly detail: string;
}

export interface RoleRuntime {
  readonly role: Role;
  start(): Promise<void>;
  stop(): Promise<void>;
  health(): RoleHealth;
  status(): Record<string, unknown>;
  /** Apply a new cluster spec; returns one sentence saying what changed. */
  reload(spec: ClusterSpec): Promise<string>;
  routes?(api: AgentApi): void;
  /** This node's certificate was renewed: whatever serves or presents it takes the new one. */
  credentialsChanged?(next: TlsCredentials): Promise<void> | void;
}
