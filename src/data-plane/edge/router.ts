/**
 * Routes compiled once per config: exact hosts in a map, wildcard suffixes in a list, then path
 * prefixes in declaration order. Per request the work is one lower-casing of Host and a few
 * startsWith calls.
 */
import type { RouteSpec } from '../../config/types.js';

interface CompiledRoute<B> {
  readonly pathPrefix: string;
  readonly backend: B;
}

export class Router<B> {
  private readonly exact = new Map<string, CompiledRoute<B>[]>();
  private readonly wildcard: { suffix: string; routes: CompiledRoute<B>[] }[] = [];
  private readonly anyHost: CompiledRoute<B>[] = [];

  constructor(routes: readonly RouteSpec[], resolve: (name: string) => B, private readonly fallback: B | undefined) {
    // Each host bucket keeps declaration order; a request tries its host's bucket, then any-host.
    for (const r of routes) {
      const compiled = { pathPrefix: r.pathPrefix, backend: resolve(r.backend) };
      if (r.host === undefined) {
        this.anyHost.push(compiled);
      } else if (r.host.startsWith('*.')) {
        const suffix = r.host.slice(1).toLowerCase();
        let entry = this.wildcard.find((w) => w.suffix === suffix);
        if (!entry) this.wildcard.push((entry = { suffix, routes: [] }));
        entry.routes.push(compiled);
      } else {
        const host = r.host.toLowerCase();
        const list = this.exact.get(host) ?? [];
        list.push(compiled);
        this.exact.set(host, list);
      }
    }
  }

  /** host: the Host header as received (may carry a port); target: the request target. */
  match(host: string | undefined, target: string): B | undefined {
    const path = pathOf(target);
    if (host !== undefined && (this.exact.size > 0 || this.wildcard.length > 0)) {
      const name = hostName(host);
      const exact = this.exact.get(name);
      const hit = exact && firstPrefix(exact, path);
      if (hit) return hit;
      for (const w of this.wildcard) {
        if (name.endsWith(w.suffix) && name.length > w.suffix.length) {
          const h = firstPrefix(w.routes, path);
          if (h) return h;
        }
      }
    }
    return firstPrefix(this.anyHost, path) ?? this.fallback;
  }
}

function firstPrefix<B>(routes: readonly CompiledRoute<B>[], path: string): B | undefined {
  for (const r of routes) if (path.startsWith(r.pathPrefix)) return r.backend;
  return undefined;
}

function hostName(host: string): string {
  let h = host;
  if (h.charCodeAt(0) === 91 /* [ */) {
    const close = h.indexOf(']');
    return (close > 0 ? h.slice(0, close + 1) : h).toLowerCase();
  }
  const colon = h.indexOf(':');
  if (colon >= 0) h = h.slice(0, colon);
  return h.toLowerCase();
}

/** Path of an origin-form or absolute-form target. */
function pathOf(target: string): string {
  if (target.charCodeAt(0) === 47 /* / */) return target;
  const scheme = target.indexOf('://');
  if (scheme > 0) {
    const slash = target.indexOf('/', scheme + 3);
    return slash < 0 ? '/' : target.slice(slash);
  }
  return target;
}
