/**
 * Metrics every node serves besides prom-client's process ones: the filesystem of its state
 * folder (where PostgreSQL, logs and the monitor's history live) and how long its own agent
 * certificate has left. Both are read when scraped, not on a timer.
 */
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import { Gauge, type Registry } from 'prom-client';

/** `agentCertPem` is read at each scrape: a renewed certificate shows at once. */
export function registerNodeMetrics(registry: Registry, o: { stateDir: string; agentCertPem: () => string }): void {
  const stat = (): fs.StatsFs | undefined => {
    try {
      return fs.statfsSync(o.stateDir);
    } catch {
      return undefined;
    }
  };
  new Gauge({
    name: 'bulwark_disk_size_bytes', help: 'Size of the filesystem holding the state folder', labelNames: ['path'], registers: [registry],
    collect(): void {
      this.reset();
      const s = stat();
      if (s) this.set({ path: o.stateDir }, s.blocks * s.bsize);
    },
  });
  new Gauge({
    name: 'bulwark_disk_available_bytes', help: 'Space unprivileged processes can still use on the filesystem holding the state folder',
    labelNames: ['path'], registers: [registry],
    collect(): void {
      this.reset();
      const s = stat();
      if (s) this.set({ path: o.stateDir }, s.bavail * s.bsize);
    },
  });
  let parsed: { pem: string; notAfterMs: number | undefined } | undefined;
  const notAfter = (): number | undefined => {
    const pem = o.agentCertPem();
    if (parsed?.pem !== pem) {
      let notAfterMs: number | undefined;
      try {
        notAfterMs = Date.parse(new X509Certificate(pem).validTo);
      } catch {
        notAfterMs = undefined;
      }
      parsed = { pem, notAfterMs };
    }
    return parsed.notAfterMs;
  };
  new Gauge({
    name: 'bulwark_agent_certificate_expiry_seconds', help: 'Seconds until this node\'s agent API certificate expires (negative once expired)',
    registers: [registry],
    collect(): void {
      // Wall time on purpose: expiry is a wall-clock fact, read when scraped.
      const notAfterMs = notAfter();
      if (notAfterMs !== undefined) this.set(Math.floor((notAfterMs - Date.now()) / 1000));
      else this.remove(); // absent, not 0 (which would read as "expired now")
    },
  });
}
