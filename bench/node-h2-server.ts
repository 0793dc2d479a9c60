/**
 * node's own HTTP/2 server as a benchmark floor (node-h2): TLS and HTTP/2 from node:http2's core
 * API (the 'stream' event, as the edge uses), answering the 100-byte body itself, no proxying.
 * What node costs per stream before any proxy work: bulwark-h2's distance to it is the proxy's
 * own work; the floor itself is the platform's.
 *
 *   node dist/bench/node-h2-server.js --port 21008 --dir DIR   (DIR holds the bench certificate)
 */
import http2 from 'node:http2';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { arg } from './args.js';
import { CERT_FILES, backendBody } from './configs.js';

const dir = arg('dir');
const bodies = [Buffer.from(backendBody('A')), Buffer.from(backendBody('B'))];
let next = 0;
const server = http2.createSecureServer({
  key: readFileSync(join(dir, CERT_FILES.key)),
  cert: readFileSync(join(dir, CERT_FILES.cert)),
  settings: { maxConcurrentStreams: 100 },
});
server.on('stream', (stream) => {
  // Alternating bodies, as two backends behind a round robin would give.
  const body = bodies[next++ & 1]!;
  stream.respond({ ':status': 200, 'content-type': 'text/plain', 'content-length': body.length });
  stream.end(body);
});
server.listen({ host: '127.0.0.1', port: Number(arg('port')), backlog: 4096 });
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
