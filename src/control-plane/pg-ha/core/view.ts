/** Typed reads of the DCS view's free-form documents. */
import type { ClusterView } from '../dcs/types.js';
import type { FailoverDoc, MemberInfo, SyncDoc } from './types.js';

export function memberOf(view: ClusterView, name: string): MemberInfo | undefined {
  return view.members.find((m) => m.name === name)?.data as unknown as MemberInfo | undefined;
}

export function syncDocOf(view: ClusterView): SyncDoc | undefined {
  return view.docs.sync?.value as SyncDoc | undefined;
}

export function failoverDocOf(view: ClusterView): FailoverDoc | undefined {
  return view.docs.failover?.value as FailoverDoc | undefined;
}
