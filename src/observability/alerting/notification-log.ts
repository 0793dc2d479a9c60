/**
 * The notifier's log on the monitor's disk (`<monitor dir>/notifications.json`): replaced
 * atomically after every delivery, read once at start. A file that cannot be read is reported and
 * set aside; the monitor then starts as if nothing had been sent (it may repeat a notification,
 * never lose one).
 */
import fs from 'node:fs';
import type { Logger } from '../../core/log.js';
import { writeFileAtomic } from '../../core/files.js';
import type { NotificationLog, NotificationLogEntry } from './notifier.js';

export function fileNotificationLog(file: string, log: Logger): NotificationLog {
  return {
    load(): NotificationLogEntry[] {
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ file, err: (err as Error).message }, `cannot read the notification log ${file}: ${(err as Error).message}`);
        return [];
      }
      try {
        const entries = JSON.parse(text) as unknown;
        if (!Array.isArray(entries) || !entries.every(isEntry)) throw new Error('not a list of notification groups');
        return entries;
      } catch (err) {
        const aside = `${file}.unreadable`;
        fs.renameSync(file, aside);
        log.warn({ file, aside, err: (err as Error).message }, `notification log ${file} is unreadable (${(err as Error).message}); moved to ${aside}, starting afresh`);
        return [];
      }
    },
    save(entries: readonly NotificationLogEntry[]): void {
      try {
        writeFileAtomic(file, `${JSON.stringify(entries)}\n`, { mode: 0o644 });
      } catch (err) {
        log.warn({ file, err: (err as Error).message }, `cannot write the notification log ${file}: ${(err as Error).message}`);
      }
    },
  };
}

function isEntry(e: unknown): e is NotificationLogEntry {
  if (!e || typeof e !== 'object') return false;
  const x = e as Record<string, unknown>;
  return typeof x['group'] === 'string' && typeof x['receiver'] === 'string' && typeof x['lastSentAt'] === 'number'
    && !!x['labels'] && typeof x['labels'] === 'object' && Array.isArray(x['sent'])
    && (x['sent'] as unknown[]).every((m) => {
      const s = m as { status?: unknown; alert?: { fingerprint?: unknown; labels?: unknown } } | null;
      return !!s && (s.status === 'firing' || s.status === 'resolved') && typeof s.alert?.fingerprint === 'string' && typeof s.alert.labels === 'object';
    });
}
