/**
 * What the etcd DCS client makes of failures: the library loaded on first use (its error classes
 * with it), which errors prove a request never left or say "not now", and the fault policies the
 * etcd3 connection pool runs every call through.
 */
import type { IOptions } from 'etcd3';
import type { Clock } from '../../../core/clock.js';

type Etcd3Lib = typeof import('etcd3');
/**
 * The client library (gRPC, protobufjs) is loaded on first use: it takes a fifth of a second
 * (seconds on a busy machine) that every CLI verb and every node not using etcd would pay at start.
 */
let lib: Etcd3Lib | undefined;
let loading: Promise<Etcd3Lib> | undefined;
export function loadEtcd3(): Promise<Etcd3Lib> {
  loading ??= import('etcd3').then((m) => (lib = m));
  return loading;
}

type FaultHandling = NonNullable<IOptions['faultHandling']>;
type GlobalPolicy = NonNullable<FaultHandling['global']>;
type HostPolicy = ReturnType<NonNullable<FaultHandling['host']>>;

/** An endpoint passed over because its last connections all failed (see endpointPolicy). */
class EndpointResting extends Error {}

/** True when the error proves the request never reached a server (no connection at all). */
function neverSent(err: unknown): boolean {
  if (err instanceof EndpointResting) return true;
  return unavailable(err) && /No connection established|ECONNREFUSED|EHOSTUNREACH|ENETUNREACH/i.test((err as Error).message);
}

/** gRPC UNAVAILABLE: the library's class for unary calls, the raw status 14 a stream emits. */
export function unavailable(err: unknown): boolean {
  return (lib !== undefined && err instanceof lib.GRPCUnavailableError) || (err as { code?: unknown } | null)?.code === 14;
}

const context = { signal: new AbortController().signal };
type Execute = <T>(fn: (ctx: typeof context) => PromiseLike<T> | T) => Promise<T>;

/**
 * The etcd3 client's fault policies are cockatiel objects; the pool only ever calls execute().
 * Global: retry on another endpoint only what never left this process; no blind retries.
 */
export function globalPolicy(attempts: number): GlobalPolicy {
  const execute: Execute = async (fn) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn(context);
      } catch (err) {
        if (attempt >= attempts || !neverSent(err)) throw err;
      }
    }
  };
  return { execute } as unknown as GlobalPolicy;
}

/**
 * Per endpoint: after 3 connection failures in a row it rests for a second (calls go to the other
 * endpoints first), then one call tries it again. Only failures to connect count. The library's
 * default breaker also counted a live member's "leader changed" and shut it out for 5 s, so one
 * etcd election could leave every endpoint shut out well after a new leader was elected.
 */
export function endpointPolicy(clock: Clock, restMs = 1000): HostPolicy {
  let failures = 0;
  let restingUntil = -Infinity;
  let lastFailure = '';
  const execute: Execute = async (fn) => {
    if (failures >= 3 && clock.now() < restingUntil) throw new EndpointResting(`${lastFailure} (not tried again for ${restMs} ms)`);
    try {
      const result = await fn(context);
      failures = 0;
      return result;
    } catch (err) {
      if (neverSent(err)) {
        failures++;
        lastFailure = (err as Error).message;
        if (failures >= 3) restingUntil = clock.now() + restMs;
      } else failures = 0; // it answered
      throw err;
    }
  };
  return { execute } as unknown as HostPolicy;
}


/**
 * The RPC's gRPC deadline passed: etcd3's own error class, or grpc-js's raw status 4
 * (DEADLINE_EXCEEDED) when etcd3 passes it on uncast — it races the call's own timer.
 */
export function deadlineExceeded(err: unknown): boolean {
  return (lib !== undefined && err instanceof lib.GRPCDeadlineExceededError) || (err as { code?: unknown } | null)?.code === 4;
}
