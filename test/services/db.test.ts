// The database file: WAL, migrations applied once and recorded, a newer schema refused clearly.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, schemaVersion } from '../../electron/services/db.ts';
import { tempDir } from './helpers.ts';

describe('history.db', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(() => tmp.cleanup());

  it('opens in WAL mode with every migration applied once and recorded', () => {
    const file = join(tmp.dir, 'history.db');
    const db = openDatabase(file);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    db.close();
    const again = openDatabase(file);
    const versions = again.prepare('SELECT version FROM schema_version ORDER BY version').all() as { version: number }[];
    expect(versions.map((v) => v.version)).toEqual(Array.from({ length: schemaVersion }, (_, i) => i + 1));
    expect(again.pragma('integrity_check', { simple: true })).toBe('ok');
    again.close();
  });

  it('refuses a database written by a newer studio instead of guessing', () => {
    const file = join(tmp.dir, 'history.db');
    openDatabase(file).close();
    const raw = new Database(file);
    raw.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, ?)').run(schemaVersion + 1, Date.now());
    raw.close();
    expect(() => openDatabase(file)).toThrow(new RegExp(`schema version ${schemaVersion + 1}, newer than this app understands`));
  });
});
