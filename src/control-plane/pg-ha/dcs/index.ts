/** The DCS capability: the interface with its contract, and the two backends. */
export * from './types.js';
export { EtcdDcs, ETCD_MIN_TTL_MS, type EtcdDcsOptions } from './etcd.js';
export {
  EmbeddedDcsStore,
  EmbeddedDcsLocal,
  EMBEDDED_MIN_TTL_MS,
  type EmbeddedDcsStoreOptions,
  type StoreSnapshot,
  type WaitResult,
} from './embedded.js';
export { mountEmbeddedDcs, EMBEDDED_DCS_PREFIX, MAX_WAIT_MS } from './embedded-api.js';
export { EmbeddedDcsClient, type EmbeddedDcsClientOptions } from './embedded-client.js';
export { DOC_KEYS } from './common.js';
