import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BodyFramer, requestFraming, responseFraming } from '../../src/data-plane/http1/framing.js';

function feed(f: BodyFramer, parts: string[]): number[] {
  return parts.map((p) => f.consume(Buffer.from(p, 'latin1'), 0));
}

describe('body framing', () => {
  it('content-length: finds the end across reads and reports where the next message starts', () => {
    const f = new BodyFramer();
    f.reset('length', 10);
    assert.deepEqual(feed(f, ['abcd']), [-1]);
    assert.equal(f.consume(Buffer.from('efghijGET /'), 0), 6);
    assert.equal(f.done, true);
    assert.equal(f.bytes, 10);
  });

  it('chunked: scans sizes, extensions and trailers byte by byte without decoding', () => {
    const body = '5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n';
    for (let split = 1; split < body.length; split++) {
      const f = new BodyFramer();
      f.reset('chunked');
      const a = f.consume(Buffer.from(body.slice(0, split)), 0);
      assert.equal(a, -1, `split ${split}`);
      const b = f.consume(Buffer.from(body.slice(split) + 'NEXT'), 0);
      assert.equal(b, body.length - split, `split ${split}`);
      assert.equal(f.bytes, 15);
    }
  });

  it('chunked: refuses malformed framing', () => {
    for (const bad of ['g\r\n', '5\r\nhelloXX', '\r\n', '5\nhello', '1234567890abc\r\n', '0\r\n\nX']) {
      const f = new BodyFramer();
      f.reset('chunked');
      assert.throws(() => f.consume(Buffer.from(bad), 0), Error, JSON.stringify(bad));
    }
  });

  it('decides framing per RFC 9112 §6.3', () => {
    assert.deepEqual(requestFraming(false, -1), { kind: 'none', length: 0 });
    assert.deepEqual(requestFraming(false, 7), { kind: 'length', length: 7 });
    assert.deepEqual(requestFraming(true, -1), { kind: 'chunked', length: 0 });
    assert.equal(responseFraming('HEAD', 200, false, 100).kind, 'none');
    assert.equal(responseFraming('GET', 204, false, -1).kind, 'none');
    assert.equal(responseFraming('GET', 304, false, 100).kind, 'none');
    assert.equal(responseFraming('GET', 200, true, -1).kind, 'chunked');
    assert.equal(responseFraming('GET', 200, false, 0).kind, 'none');
    assert.equal(responseFraming('GET', 200, false, -1).kind, 'close');
  });
});
