#!/usr/bin/env node
// Thin launcher: the CLI is compiled TypeScript (npm install runs the build).
import('../dist/src/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    console.error('bulwark: not built yet — run `npm install` (or `npm run build`) first');
    process.exit(1);
  }
  throw err;
});
