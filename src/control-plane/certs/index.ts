export { ClusterCa, describeCertificate, type IssuedCertificate } from './ca.js';
export { LocalCertificateSource } from './local-source.js';
export { FilesCertificateSource } from './files-source.js';
export { AcmeCertificateSource, type AcmeCounters, type AcmeStatus } from './acme-source.js';
export { AcmePeers } from './acme-peers.js';
export { mountAcmeApi } from './acme-api.js';
export { caCertPath, caDirOf, caKeyPath } from './paths.js';
export { adminCertPaths, adminCredentials, nodeCertPaths, nodeCredentials, type CallerRole, type TlsCredentials } from './credentials.js';
