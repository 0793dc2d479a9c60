/** ACME on an lb node: certificates issued and orders that failed (expiry is in the edge's TLS metrics). */
import { Counter, type Registry } from 'prom-client';

export class AcmeMetrics {
  private readonly issuedTotal: Counter<'kind'>;
  private readonly failedTotal: Counter<'kind'>;

  constructor(registry: Registry) {
    this.issuedTotal = new Counter({ name: 'bulwark_tls_acme_issued_total', help: 'ACME certificates this lb obtained, by kind (issue, renew)', labelNames: ['kind'], registers: [registry] });
    this.failedTotal = new Counter({ name: 'bulwark_tls_acme_failures_total', help: 'ACME orders of this lb that failed (retried with backoff), by kind (issue, renew)', labelNames: ['kind'], registers: [registry] });
    for (const kind of ['issue', 'renew']) {
      this.issuedTotal.inc({ kind }, 0);
      this.failedTotal.inc({ kind }, 0);
    }
  }

  issued(kind: 'issue' | 'renew'): void {
    this.issuedTotal.inc({ kind });
  }

  failed(kind: 'issue' | 'renew'): void {
    this.failedTotal.inc({ kind });
  }
}
