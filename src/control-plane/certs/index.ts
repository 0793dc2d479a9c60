export { ClusterCa, describeCertificate, type IssuedCertificate } from './ca.js';
export { LocalCertificateSource, edgeCertNames, ensureEdgeCertificate } from './local-source.js';
export { FilesCertificateSource } from './files-source.js';
export { AcmeCertificateSource, type AcmeCounters, type AcmeStatus } from './acme-source.js';
export { AcmePeers } from './acme-peers.js';
export { mountAcmeApi } from './acme-api.js';
export { EdgeCertificates, type CertificateSource } from './edge-certificates.js';
export { caCertPath, caDirOf, caKeyPath, edgeCertPaths } from './paths.js';
export { adminCertPaths, adminCredentials, nodeCertPaths, nodeCredentials, type CallerRole, type TlsCredentials } from './credentials.js';
