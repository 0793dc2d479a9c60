/**
 * Fallback backends when nginx is not installed: one minimal node:http process answering the
 * same 100-byte bodies on two ports. (nginx is preferred: it needs far less CPU per request on
 * the core it shares with wrk, so the baseline is steadier.)
 *
 *   node dist/bench/node-backend.js --ports 21001,21002
 */
import http from 'node:http';
import { backendBody } from './configs.js';

const i = process.argv.indexOf('--ports');
const ports = (process.argv[i + 1] ?? '').split(',').map(Number);
const names = ['A', 'B'] as const;
ports.forEach((port, k) => {
  const body = Buffer.from(backendBody(names[k % 2]!));
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
  });
  server.keepAliveTimeout = 300_000;
  server.listen({ host: '127.0.0.1', port, backlog: 4096 });
});
process.on('SIGTERM', () => process.exit(0));
