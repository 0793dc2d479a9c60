/**
 * The certificates one edge serves and the source that fills them. The store stays for the
 * life of the edge (its TLS listeners hold it); a reload with a changed `edge.tls` starts the new
 * source on the same store and stops the old one only once the new one serves, so a bad change
 * (a missing file, no CA key) is refused and the running certificates stay.
 */
import { CertificateStore } from '../../data-plane/tls/index.js';

export interface CertificateSource {
  /** Fill the store (throws when it cannot: the store keeps what it had). */
  start(): Promise<void> | void;
  /** Begin work that needs the edge listening (ACME orders). */
  run?(): void;
  stop(): void;
}

export class EdgeCertificates<C> {
  readonly store = new CertificateStore();
  private source: CertificateSource | undefined;
  private config = '';
  private running = false;

  /** `make` builds the source for a config; configs that serialize alike are the same config. */
  constructor(private readonly make: (config: C, store: CertificateStore) => CertificateSource) {}

  get current(): CertificateSource | undefined {
    return this.source;
  }

  async start(config: C): Promise<void> {
    const source = this.make(config, this.store);
    await source.start();
    this.source = source;
    this.config = JSON.stringify(config);
  }

  run(): void {
    this.running = true;
    this.source?.run?.();
  }

  /** Switch to the source of a changed config; false when it did not change. Throws, changing nothing, when the new source cannot serve. */
  async reload(config: C): Promise<boolean> {
    if (JSON.stringify(config) === this.config) return false;
    const next = this.make(config, this.store);
    await next.start();
    this.source?.stop();
    this.source = next;
    this.config = JSON.stringify(config);
    if (this.running) next.run?.();
    return true;
  }

  stop(): void {
    this.source?.stop();
  }
}
