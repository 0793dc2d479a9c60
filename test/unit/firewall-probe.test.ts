/**
 * The probe endpoint behind `bulwark firewall verify`: real TCP connects on 127.0.0.1, more
 * targets than are connected at once, results in the order asked, and the request-size bound.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import { ApiError, type AgentApi, type ApiHandler } from '../../src/control-plane/agent-api/index.js';
import { MAX_PROBE_TARGETS, mountProbeApi } from '../../src/control-plane/host-firewall/probe.js';

/** The handler mountProbeApi registers (the HTTPS server around it is tested elsewhere). */
function probeHandler(): ApiHandler {
  let handler: ApiHandler | undefined;
  const api = { route: (_m: string, path: string, h: ApiHandler) => { if (path === '/firewall/probe') handler = h; } };
  mountProbeApi(api as unknown as AgentApi, systemClock);
  return handler!;
}

const call = async (body: unknown) => probeHandler()({ caller: { name: 'admin', role: 'admin' }, method: 'POST', path: '/firewall/probe', query: new URLSearchParams(), body } as never);

describe('POST /firewall/probe', () => {
  const server = net.createServer((c) => c.end());
  let open = 0;
  let closed = 0;
  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    open = (server.address() as net.AddressInfo).port;
    // A port that was just free: connects are refused.
    const spare = net.createServer();
    await new Promise<void>((r) => spare.listen(0, '127.0.0.1', r));
    closed = (spare.address() as net.AddressInfo).port;
    await new Promise<void>((r) => spare.close(() => r()));
  });
  after(() => server.close());

  it('answers every target in order, also beyond the connects it runs at once', async () => {
    const targets = Array.from({ length: 300 }, (_, i) => ({ host: '127.0.0.1', port: i % 3 === 0 ? closed : open }));
    const r = await call({ targets, timeoutMs: 2000 });
    assert.equal(r.status, 200);
    const results = (r.body as { results: { port: number; result: string }[] }).results;
    assert.equal(results.length, 300);
    results.forEach((res, i) => assert.deepEqual([res.port, res.result], [targets[i]!.port, i % 3 === 0 ? 'refused' : 'open'], `target ${i}`));
  });

  it(`takes up to ${MAX_PROBE_TARGETS} targets a request and says so beyond`, async () => {
    const target = { host: '127.0.0.1', port: closed };
    await assert.rejects(call({ targets: Array.from({ length: MAX_PROBE_TARGETS + 1 }, () => target) }),
      (err: unknown) => err instanceof ApiError && err.status === 400 && err.message.includes(`1 to ${MAX_PROBE_TARGETS} targets`));
    await assert.rejects(call({ targets: [{ host: 'db-1', port: 5432 }] }), (err: unknown) => err instanceof ApiError && /IP address/.test(err.message));
  });
});
