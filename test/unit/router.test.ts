import { it } from 'node:test';
import assert from 'node:assert/strict';
import { Router } from '../../src/data-plane/edge/router.js';

it('routes by exact host, wildcard host, path prefix, then default', () => {
  const r = new Router(
    [
      { host: 'api.example.com', pathPrefix: '/v2', backend: 'api-v2' },
      { host: 'api.example.com', pathPrefix: '/', backend: 'api' },
      { host: '*.example.com', pathPrefix: '/', backend: 'sites' },
      { pathPrefix: '/static', backend: 'static' },
    ],
    (name) => name,
    'default',
  );
  assert.equal(r.match('api.example.com', '/v2/users'), 'api-v2');
  assert.equal(r.match('API.Example.com:8443', '/v1'), 'api');
  assert.equal(r.match('blog.example.com', '/'), 'sites');
  assert.equal(r.match('example.com', '/static/x.css'), 'static');
  assert.equal(r.match('example.com', '/other'), 'default');
  assert.equal(r.match(undefined, '/static/a'), 'static');
  assert.equal(r.match('api.example.com', 'http://api.example.com/v2/x'), 'api-v2');
  assert.equal(r.match('[::1]:80', '/x'), 'default');
  const noDefault = new Router([{ pathPrefix: '/a', backend: 'a' }], (n) => n, undefined);
  assert.equal(noDefault.match('h', '/b'), undefined);
});
