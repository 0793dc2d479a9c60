/** Responses the edge writes itself (errors, redirects): small, closed, never cached. */
const REASONS: Record<number, string> = {
  308: 'Permanent Redirect', 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 408: 'Request Timeout', 413: 'Content Too Large',
  414: 'URI Too Long', 429: 'Too Many Requests', 431: 'Request Header Fields Too Large',
  500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? 'Error';
}

/** The JSON body of a response the edge writes itself, naming the problem. */
export function cannedBody(status: number, message: string, requestId: string): string {
  return JSON.stringify({ error: reasonPhrase(status), status, message, requestId }) + '\n';
}

/** A complete response with a JSON body naming the problem; `close` adds Connection: close. */
export function cannedResponse(status: number, message: string, requestId: string, close: boolean, extra = ''): string {
  const body = cannedBody(status, message, requestId);
  return (
    `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n` +
    'content-type: application/json\r\n' +
    'cache-control: no-store\r\n' +
    `x-request-id: ${requestId}\r\n` +
    extra +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    (close ? 'connection: close\r\n' : '') +
    '\r\n' +
    body
  );
}

/** Paths an ACME server fetches over plain HTTP (HTTP-01): never redirected to HTTPS. */
export const ACME_CHALLENGE = '/.well-known/acme-challenge/';

/** The https:// URL for a plain-HTTP request: its Host without the port (else our address), the HTTPS port, its target. */
export function httpsLocation(host: string | undefined, localAddress: string, port: number, target: string): string {
  let name: string;
  if (host !== undefined && host !== '') name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0]!;
  else name = localAddress.includes(':') ? `[${localAddress}]` : localAddress;
  return `https://${name}${port === 443 ? '' : `:${port}`}${target}`;
}
