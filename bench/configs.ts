/** Configuration files for the peer proxies and the nginx backends, written into a temp dir. */
import { join } from 'node:path';

export interface Ports {
  backendA: number;
  backendB: number;
  bulwarkHttp: number;
  bulwarkTcp: number;
  haproxyHttp: number;
  haproxyTcp: number;
  haproxyHttps: number;
  nginxProxy: number;
  nginxHttps: number;
  bulwarkHttps: number;
  bulwarkHttpNoMetrics: number;
  bulwarkHttpMetrics: number;
  nodeH2: number;
}

export function portsFrom(base: number): Ports {
  return {
    backendA: base + 1,
    backendB: base + 2,
    bulwarkHttp: base + 10,
    bulwarkTcp: base + 11,
    // base + 12 / 13: the --compare build (bulwarkHttp + 2, bulwarkTcp + 2)
    // base + 14: the http frontend again, with an edge firewall (bulwark-http-fw, same process)
    haproxyHttp: base + 20,
    haproxyTcp: base + 21,
    haproxyHttps: base + 22,
    nginxProxy: base + 30,
    nginxHttps: base + 31,
    bulwarkHttps: base + 16,
    // base + 17 / 18: the http proxy with metrics off (bulwark-http-nometrics), its own process;
    // base + 6 / 7: its twin with metrics on (bulwark-http-metrics)
    bulwarkHttpNoMetrics: base + 17,
    bulwarkHttpMetrics: base + 6,
    // node's own HTTP/2 server, no proxying (node-h2)
    nodeH2: base + 8,
  };
}

/** The two ~100-byte bodies; the first byte tells which backend answered (round-robin check). */
export function backendBody(which: 'A' | 'B'): string {
  const line = `${which}: bulwark benchmark backend ${which}, a static body of exactly one hundred bytes. `;
  return (line + '.'.repeat(100)).slice(0, 99) + '\n';
}

function nginxPaths(dir: string, name: string): string {
  return `pid ${join(dir, `${name}.pid`)};
error_log ${join(dir, `${name}-error.log`)} warn;
`;
}

function nginxTemps(dir: string, name: string): string {
  const t = (what: string): string => join(dir, `${name}-${what}`);
  return `  client_body_temp_path ${t('client_body')};
  proxy_temp_path ${t('proxy')};
  fastcgi_temp_path ${t('fastcgi')};
  uwsgi_temp_path ${t('uwsgi')};
  scgi_temp_path ${t('scgi')};
`;
}

/**
 * The backends: one nginx (one worker) serving a static 100-byte file on two ports. Keep-alive
 * connections are never closed by count (keepalive_requests) so neither the direct baseline nor
 * a proxy's pool reconnects every 1000 requests.
 */
export function nginxBackendConf(dir: string, ports: Ports): string {
  const server = (port: number, root: string): string => `  server {
    listen 127.0.0.1:${port} backlog=4096;
    root ${root};
    location / { index index.html; }
  }
`;
  return `daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 16384;
${nginxPaths(dir, 'backend')}events { worker_connections 8192; }
http {
  access_log off;
  server_tokens off;
  default_type text/plain;
  sendfile off;
  tcp_nodelay on;
  etag off;
  open_file_cache max=16 inactive=60s;
  open_file_cache_valid 3600s;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
${nginxTemps(dir, 'backend')}${server(ports.backendA, join(dir, 'www-a'))}${server(ports.backendB, join(dir, 'www-b'))}}
`;
}

/**
 * nginx as the reverse proxy peer: 1 worker, upstream keepalive 128, HTTP/1.1 upstream with the
 * Connection header cleared, no logging. keepalive_requests is raised on both sides for the same
 * reason as on the backends (otherwise every 1000th request opens a new connection).
 */
/** The HTTPS peers' certificate: `tls.crt`/`tls.key` (nginx) and `tls.pem` (HAProxy) in dir. */
export const CERT_FILES = { cert: 'tls.crt', key: 'tls.key', pem: 'tls.pem' } as const;

export function nginxProxyConf(dir: string, ports: Ports): string {
  return `daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 16384;
${nginxPaths(dir, 'proxy')}events { worker_connections 8192; }
http {
  access_log off;
  server_tokens off;
  keepalive_requests 100000000;
  keepalive_timeout 60s;
${nginxTemps(dir, 'proxy')}  upstream be {
    server 127.0.0.1:${ports.backendA};
    server 127.0.0.1:${ports.backendB};
    keepalive 128;
    keepalive_requests 100000000;
  }
  server {
    listen 127.0.0.1:${ports.nginxProxy} backlog=4096;
    listen 127.0.0.1:${ports.nginxHttps} ssl http2 backlog=4096;
    ssl_certificate ${join(dir, CERT_FILES.cert)};
    ssl_certificate_key ${join(dir, CERT_FILES.key)};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:1m;
    location / {
      proxy_pass http://be;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

/**
 * HAProxy peer: one thread, round robin, http-reuse always, no logging; one http and one tcp
 * frontend. The HTTPS bind offers h2 by ALPN (haproxy-h2); wrk offers no ALPN and gets HTTP/1.1.
 */
export function haproxyConf(ports: Ports, dir: string): string {
  const servers = `  server a 127.0.0.1:${ports.backendA} check inter 5s
  server b 127.0.0.1:${ports.backendB} check inter 5s
`;
  return `global
  nbthread 1
  maxconn 8000

defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
  http-reuse always

frontend fe_http
  bind 127.0.0.1:${ports.haproxyHttp}
  bind 127.0.0.1:${ports.haproxyHttps} ssl crt ${join(dir, CERT_FILES.pem)} ssl-min-ver TLSv1.2 alpn h2,http/1.1
  default_backend be_http

backend be_http
  balance roundrobin
${servers}
frontend fe_tcp
  mode tcp
  bind 127.0.0.1:${ports.haproxyTcp}
  default_backend be_tcp

backend be_tcp
  mode tcp
  balance roundrobin
${servers}`;
}
