/** docs/configuration.md documents every key the loader accepts. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { KEYS } from '../../src/config/keys.js';

const DOC = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');

/** How the reference tables spell the keys of each mapping (`health_check.interval`, `name`). */
const PREFIX: Record<keyof typeof KEYS, string> = {
  top: '', firewall: 'firewall.', agent: 'agent.', log: 'log.', node: '', web: '', app: 'app.', restartBackoff: 'app.restart_backoff.',
  edge: '', standby: 'standby.', notify: 'standby.notify.', tls: 'tls.', certificate: 'tls.certificates[].', acme: 'tls.acme.', frontend: '', edgeFirewall: 'firewall.', rateLimit: 'firewall.rate_limit.', ban: 'firewall.ban.', frontendTimeouts: 'timeouts.', limits: 'limits.', route: '', backend: '',
  balance: 'balance.', server: '', healthCheck: 'health_check.', passiveHealth: 'passive_health.',
  retries: 'retries.', backendTimeouts: 'timeouts.', queue: 'queue.',
  database: 'database.', dcs: 'database.dcs.', router: 'database.router.',
  monitor: 'monitor.', retention: 'monitor.retention.', rule: 'monitor.rules[].', receiver: 'monitor.receivers[].',
};

it('mentions every key of every mapping in backticks', () => {
  const missing: string[] = [];
  for (const [mapping, keys] of Object.entries(KEYS) as [keyof typeof KEYS, readonly string[]][]) {
    for (const key of keys) {
      // `prefix.key`, or a longer path under it for mapping-valued keys (`timeouts.idle` covers `timeouts`).
      const spelled = `${PREFIX[mapping]}${key}`.replace(/[.[\]]/g, '\\$&');
      if (!new RegExp(`\`${spelled}(\\.[a-z_]+)*\``).test(DOC)) missing.push(`${mapping}: ${PREFIX[mapping]}${key}`);
    }
  }
  assert.deepEqual(missing, []);
});

it('documents the defaults that are easy to get wrong', () => {
  for (const text of ['`7700`', '`.bulwark`', '`bwk_srv`', '`16KiB`', '`8KiB`', '`16MiB`', '`/healthz`', '`500ms`', '`5m`', '`256`', '`64`']) {
    assert.ok(DOC.includes(text), `docs/configuration.md does not mention ${text}`);
  }
});
