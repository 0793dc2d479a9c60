/** Where a node's agent API answers (IPv6 addresses bracketed). */
export function agentUrl(node: { readonly address: string; readonly agentPort: number }, path = ''): string {
  const host = node.address.includes(':') ? `[${node.address}]` : node.address;
  return `https://${host}:${node.agentPort}${path}`;
}
