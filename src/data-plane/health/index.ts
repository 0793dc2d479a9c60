export { RiseFall, type HealthState } from './rise-fall.js';
export {
  httpProbe,
  tcpProbe,
  statusAccepted,
  type Probe,
  type ProbeResult,
  type HttpProbeOptions,
  ProbeTls,
  type ProbePem,
  type TcpProbeOptions,
} from './probe.js';
export { ActiveHealthCheck, type ActiveHealthCheckOptions } from './active.js';
export { PassiveHealth } from './passive.js';
