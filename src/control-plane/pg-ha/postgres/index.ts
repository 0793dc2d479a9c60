/**
 * PostgreSQL control for the HA loop: reliable, observable operations on one member, no HA
 * decisions. See each file's header for the details and traps it handles.
 */
export { PgControlError, PgErrorCodes, isPgControlError, type PgErrorCode } from './errors.js';
export {
  locatePostgres,
  repairNpmSymlinks,
  npmPackageDir,
  binaryEnv,
  binPath,
  parseVersion,
  type PostgresBinaries,
  type PostgresVersion,
  type LocateOptions,
} from './binaries.js';
export {
  ensureServiceUser,
  ensureBinariesReachable,
  prepareDir,
  assertTraversable,
  firstUntraversable,
  isRoot,
  agentUserName,
  type ServiceUser,
  type ReachableOptions,
} from './os-user.js';
export { memberPaths, prepareMemberDirs, type MemberPaths } from './layout.js';
export {
  memberSettings,
  standardHba,
  renderHba,
  renderConf,
  readAutoConf,
  readPostmasterPid,
  BULWARK_CONF,
  type HbaRule,
  type Settings,
  type StandardHbaInput,
  type PostmasterPid,
} from './conf.js';
export { readControlFile, parseControlFile, type ControlData, type ClusterState } from './control-file.js';
export { findWalEnd, type WalEnd } from './wal-end.js';
export { parseTimelineHistory, readTimelineHistory, removeNewerHistoryFiles, historyFileName, type TimelineSwitch } from './timeline.js';
export {
  PostgresInstance,
  isPostmasterFor,
  type PostgresInstanceOptions,
  type InitdbOptions,
  type StopMode,
  type StopOptions,
  type StopResult,
  type ExitInfo,
  type PromoteResult,
  type RunState,
} from './instance.js';
export { ensureSecrets, readSecrets, writeSecrets, writePassfile, secretFile, SECRET_NAMES, type ClusterSecrets, type SecretName } from './secrets.js';
export { bootstrapPrimary, writeMemberPassfile, DEFAULT_ROLES, type BootstrapOptions, type BootstrapResult, type RoleNames } from './bootstrap.js';
export {
  configureReplica,
  configurePrimary,
  repoint,
  primaryConninfo,
  configuredUpstream,
  followRefusal,
  type UpstreamPrimary,
  type RepointOptions,
} from './replica-setup.js';
export { cloneFromPrimary, isCloneIncomplete, cloneMarker, emptyDir, type CloneOptions, type CloneResult, type CloneSource } from './clone.js';
export { ensurePhysicalSlot, dropSlot, listSlots, type SlotInfo } from './slots.js';
export { readStatus, replicaHealth, type PgStatus, type ReplicaInfo, type ReceiverStatus, type ReplicaHealth } from './status.js';
export {
  setSynchronousStandbys,
  readSynchronousStandbys,
  formatSyncStandbyNames,
  parseSyncStandbyNames,
  type SyncSpec,
  type SyncState,
} from './sync.js';
export { rewind, rewindAvailable, checkpointSource, type RewindSource, type RewindResult } from './rewind.js';
export { serverTlsSettings, clientTlsParams, clientTlsOptions, writeMemberTls, type MemberTls, type TlsPem, type TlsFiles } from './tls.js';
export { BaseBackupQuery, baseBackupCommand } from './base-backup.js';
export { TarExtractor, TarFormatError } from './tar-extract.js';
export {
  quoteIdent,
  quoteLiteral,
  parseLsn,
  lsnToBigInt,
  formatLsn,
  slotNameFor,
  scramSha256Verifier,
  generatePassword,
  type Lsn,
} from './sql.js';
