/** Schema + defaults for `edge.standby`: the lease election of the lb that holds the VIP. */
import { DEFAULTS } from './defaults.js';
import { KEYS } from './keys.js';
import type { MapView } from './reader.js';
import type { NodeSpec, StandbySpec } from './types.js';

/** Linux interface names: at most 15 bytes, no slash or whitespace. */
const IFNAME = /^[A-Za-z0-9_.:@-]{1,15}$/;

/** `edge` is the edge mapping, or undefined when the cluster has no edge (defaults only). */
export function readStandby(edge: MapView | undefined, nodes: readonly NodeSpec[]): StandbySpec {
  const m = edge?.map('standby', KEYS.standby);
  const d = DEFAULTS.standby;
  const voterItems = m?.list('voters');
  const voters: string[] = [];
  for (const item of voterItems ?? []) {
    const name = m!.reader.string(item.node, item.path);
    if (name !== undefined) voters.push(name);
  }
  if (voterItems?.length === 0) m!.reader.issues.add(m!.at('voters'), 'must list at least three nodes (or leave it out: every node votes)');
  const iface = m?.str('interface');
  if (iface !== undefined && !IFNAME.test(iface)) m!.reader.issues.add(m!.at('interface'), `expected a network interface name like eth0, got ${JSON.stringify(iface)}`);
  const n = m?.map('notify', KEYS.notify);
  const hook = (key: string): string | undefined => n?.str(key);
  const onActive = hook('on_active');
  const onPassive = hook('on_passive');
  const onFault = hook('on_fault');
  return {
    leaseMs: m?.duration('lease') ?? d.leaseMs,
    heartbeatMs: m?.duration('heartbeat') ?? d.heartbeatMs,
    preempt: m?.bool('preempt') ?? d.preempt,
    preemptDelayMs: m?.duration('preempt_delay') ?? d.preemptDelayMs,
    minHoldMs: m?.duration('min_hold') ?? d.minHoldMs,
    voters: voterItems ? voters : nodes.map((x) => x.name),
    ...(iface !== undefined && IFNAME.test(iface) && { interface: iface }),
    announceIntervalMs: m?.duration('announce_interval') ?? d.announceIntervalMs,
    notify: {
      ...(onActive !== undefined && { onActive }),
      ...(onPassive !== undefined && { onPassive }),
      ...(onFault !== undefined && { onFault }),
    },
  };
}
