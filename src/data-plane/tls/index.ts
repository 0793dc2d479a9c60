export { CertificateStore, certificateNames, type CertificatePair, type ServedCertificate } from './certificate-store.js';
export { ChallengeResponder, challengeResponse } from './acme-challenges.js';
export { INTERMEDIATE } from './settings.js';
export { tlsServerFactory } from './tls-server.js';
