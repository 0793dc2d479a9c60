/**
 * The DCS `config` document: what the member that initialised the cluster publishes for the
 * others (replication secrets for db members, the app password for web nodes' routers).
 */
import type { ClusterSecrets } from '../postgres/index.js';
import type { Dcs } from '../dcs/types.js';

export interface ConfigDoc {
  readonly secrets: Partial<ClusterSecrets>;
  readonly appDatabase: string;
  readonly appUser: string;
}

/** The config document, or undefined while the cluster is still bootstrapping (or unreachable). */
export async function readConfigDoc(dcs: Dcs): Promise<ConfigDoc | undefined> {
  const view = await dcs.read();
  return view.docs.config?.value as ConfigDoc | undefined;
}
