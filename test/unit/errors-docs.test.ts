/** docs/errors.md and the error registry must not drift apart (the idea of fastify's errors test). */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCodes } from '../../src/core/errors.js';

it('every error code is documented with its meaning, and every documented code exists', () => {
  const doc = fs.readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../docs/errors.md'), 'utf8');
  const documented = new Map([...doc.matchAll(/^\| `(BWK_[A-Z_]+)` \| (.+) \|$/gm)].map((m) => [m[1]!, m[2]!]));
  for (const [code, meaning] of Object.entries(ErrorCodes)) {
    assert.equal(documented.get(code), meaning, `docs/errors.md row for ${code}`);
  }
  for (const code of documented.keys()) assert.ok(code in ErrorCodes, `${code} is documented but not defined`);
});
