export { ClusterCa, describeCertificate, type IssuedCertificate } from './ca.js';
export { LocalCertificateSource } from './local-source.js';
export { FilesCertificateSource } from './files-source.js';
export { caCertPath, caDirOf } from './paths.js';
