import type { BalancePolicy } from '../../config/types.js';

export interface Pickable {
  readonly name: string;
  /** >= 0; 0 means never picked. */
  readonly weight: number;
  /** In-flight requests/connections right now. */
  readonly active: number;
}

export interface PickContext {
  clientIp: string;
  /** lower-case header name → value, or undefined */
  header(name: string): string | undefined;
  cookie(name: string): string | undefined;
}

export interface Balancer<S extends Pickable> {
  readonly policy: BalancePolicy;
  /** Chooses one of the servers for which usable(s) is true; undefined when none is. */
  pick(ctx: PickContext, usable: (s: S) => boolean): S | undefined;
}
