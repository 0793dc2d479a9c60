/**
 * Pebble, the ACME test server (Debian package `pebble`), on an address of the test's own: its
 * listener certificate comes from a throwaway cluster CA (the test trusts it with `ca_file`), its
 * HTTP-01 validation port is the edge's plain-HTTP port, and it validates without the random
 * sleeps (PEBBLE_VA_NOSLEEP). The issuing roots Pebble makes at start-up come from its
 * management port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { ClusterCa } from '../../src/control-plane/certs/index.js';
import { eventually } from './eventually.js';

export interface PebbleOptions {
  /** Folder for its config, certificate and log. */
  readonly dir: string;
  readonly address: string;
  /** Where Pebble connects for HTTP-01 (the edge's plain-HTTP frontend port). */
  readonly httpPort: number;
  /** Lifetime of the certificates it issues. */
  readonly validitySeconds: number;
  readonly acmePort?: number;
  readonly managementPort?: number;
}

export class Pebble {
  private constructor(
    private readonly child: ChildProcess,
    readonly directory: string,
    /** The CA of Pebble's own HTTPS listener (for `ca_file`). */
    readonly caFile: string,
    private readonly managementUrl: string,
    readonly logFile: string,
  ) {}

  static async start(o: PebbleOptions): Promise<Pebble> {
    fs.mkdirSync(o.dir, { recursive: true });
    const ca = await ClusterCa.ensure(path.join(o.dir, 'ca'), 'pebble-listener');
    const listener = await ca.issue({ commonName: 'pebble', names: [o.address], usage: 'server', days: 2 });
    const certFile = path.join(o.dir, 'listener.crt');
    const keyFile = path.join(o.dir, 'listener.key');
    fs.writeFileSync(certFile, listener.certPem);
    fs.writeFileSync(keyFile, listener.keyPem, { mode: 0o600 });
    const acmePort = o.acmePort ?? 14000;
    const managementPort = o.managementPort ?? 15000;
    const config = {
      pebble: {
        listenAddress: `${o.address}:${acmePort}`, managementListenAddress: `${o.address}:${managementPort}`,
        certificate: certFile, privateKey: keyFile, httpPort: o.httpPort, tlsPort: 5001, ocspResponderURL: '',
        externalAccountBindingRequired: false, certificateValidityPeriod: o.validitySeconds,
      },
    };
    const configFile = path.join(o.dir, 'pebble-config.json');
    fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
    const logFile = path.join(o.dir, 'pebble.log');
    const out = fs.openSync(logFile, 'a');
    const child = spawn('pebble', ['-config', configFile], { env: { ...process.env, PEBBLE_VA_NOSLEEP: '1' }, stdio: ['ignore', out, out] });
    fs.closeSync(out);
    const p = new Pebble(child, `https://${o.address}:${acmePort}/dir`, ca.certPath, `https://${o.address}:${managementPort}`, logFile);
    await eventually(async () => {
      if (child.exitCode !== null) throw new Error(`pebble exited (${child.exitCode}): ${fs.readFileSync(logFile, 'utf8')}`);
      await p.get(p.directory);
    }, { timeoutMs: 10_000, message: 'pebble did not start' });
    return p;
  }

  /** The root that signs what Pebble issues (PEM), for clients of the edge. */
  roots(): Promise<string> {
    return this.get(`${this.managementUrl}/roots/0`);
  }

  private get(url: string): Promise<string> {
    const ca = fs.readFileSync(this.caFile, 'utf8');
    return new Promise((resolve, reject) => {
      https.get(url, { ca, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: HTTP ${res.statusCode}`))));
      }).on('error', reject);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
  }
}
