// The studio's SQLite database: WAL, numbered migrations recorded in a version table.
import Database from 'better-sqlite3';

export type Db = Database.Database;

/** Each entry is one migration; its number is its index + 1. Never edit a migration that has shipped: add one. */
const migrations: readonly string[] = [
  `
  CREATE TABLE generations (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    prompt TEXT NOT NULL,
    negative_prompt TEXT NOT NULL,
    params TEXT NOT NULL,
    model_id TEXT,
    model_name TEXT,
    model_hash TEXT,
    loras TEXT NOT NULL,
    image_path TEXT NOT NULL,
    thumbnail_path TEXT NOT NULL,
    mask_path TEXT,
    parent_id TEXT,
    job_id TEXT,
    timings TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    favourite INTEGER NOT NULL DEFAULT 0,
    trashed_at INTEGER
  );
  CREATE INDEX generations_created ON generations(created_at DESC);
  CREATE INDEX generations_model ON generations(model_id);
  CREATE TABLE generation_tags (
    generation_id TEXT NOT NULL REFERENCES generations(id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (generation_id, tag)
  );
  CREATE INDEX generation_tags_tag ON generation_tags(tag);
  CREATE VIRTUAL TABLE generations_fts USING fts5(
    prompt, negative_prompt, content='generations', content_rowid='rowid',
    tokenize='unicode61 remove_diacritics 2'
  );
  CREATE TRIGGER generations_ai AFTER INSERT ON generations BEGIN
    INSERT INTO generations_fts(rowid, prompt, negative_prompt) VALUES (new.rowid, new.prompt, new.negative_prompt);
  END;
  CREATE TRIGGER generations_ad AFTER DELETE ON generations BEGIN
    INSERT INTO generations_fts(generations_fts, rowid, prompt, negative_prompt)
      VALUES ('delete', old.rowid, old.prompt, old.negative_prompt);
  END;
  CREATE TRIGGER generations_au AFTER UPDATE OF prompt, negative_prompt ON generations BEGIN
    INSERT INTO generations_fts(generations_fts, rowid, prompt, negative_prompt)
      VALUES ('delete', old.rowid, old.prompt, old.negative_prompt);
    INSERT INTO generations_fts(rowid, prompt, negative_prompt) VALUES (new.rowid, new.prompt, new.negative_prompt);
  END;
  CREATE TABLE jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    spec TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    step INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    generation_ids TEXT NOT NULL DEFAULT '[]',
    model_id TEXT
  );
  CREATE INDEX jobs_status ON jobs(status);
  CREATE TABLE job_losses (
    job_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    loss REAL NOT NULL,
    PRIMARY KEY (job_id, step)
  );
  CREATE TABLE models (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    format TEXT NOT NULL,
    source TEXT NOT NULL,
    hash TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    licence TEXT,
    description TEXT,
    path TEXT NOT NULL,
    base_model_id TEXT,
    created_at INTEGER NOT NULL
  );
  `,
  // The user's choice of what a model predicts (epsilon / v_prediction); NULL = what the file or its family says.
  `ALTER TABLE models ADD COLUMN prediction TEXT;`,
  // The VAE (a registry model of kind 'vae') used instead of the model's own autoencoder; NULL = its own.
  `ALTER TABLE models ADD COLUMN vae_id TEXT;`,
  // Linear-layer weights for sampling: 'int8' / 'int4' quantised at load ("Low memory"); NULL = fp32.
  `ALTER TABLE models ADD COLUMN weights TEXT;`,
];

export const schemaVersion = migrations.length;

export class DatabaseVersionError extends Error {}

export function openDatabase(path: string): Db {
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function migrate(db: Db): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at INTEGER NOT NULL)');
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number | null };
  const current = row.v ?? 0;
  if (current > migrations.length) {
    throw new DatabaseVersionError(
      `history.db has schema version ${current}, newer than this app understands (${migrations.length}): update the app, or use another data folder.`,
    );
  }
  for (let v = current + 1; v <= migrations.length; v++) {
    db.transaction(() => {
      db.exec(migrations[v - 1]!);
      db.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, ?)').run(v, Date.now());
    })();
  }
}
