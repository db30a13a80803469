// The history: one row per image with full provenance, FTS5 search over prompts, trash and JSONL export.
import { createReadStream } from 'node:fs';
import { link, open, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { StudioError } from '../api/contract.ts';
import { generation as generationSchema, type Generation, type HistoryFilter, type PromptSuggestion } from '../api/history.ts';
import type { Db } from './db.ts';
import { galleryNameProblem, type Gallery } from './gallery.ts';
import { parseSamplerLabel } from '../engine/diffusion/samplers.ts';
import { extraFacts } from '../engine/io/generation-params.ts';
import { readImageParameters } from '../engine/io/metadata/index.ts';
import { DEFAULT_IMAGE_LIMITS } from '../engine/io/image.ts';
import { newId } from './ids.ts';

interface Row {
  id: string;
  kind: string;
  prompt: string;
  negative_prompt: string;
  params: string;
  model_id: string | null;
  model_name: string | null;
  model_hash: string | null;
  loras: string;
  image_path: string;
  thumbnail_path: string;
  mask_path: string | null;
  parent_id: string | null;
  job_id: string | null;
  timings: string;
  created_at: number;
  favourite: number;
  trashed_at: number | null;
  tags: string | null;
}

const SELECT = `SELECT g.*, (SELECT json_group_array(tag) FROM generation_tags t WHERE t.generation_id = g.id) AS tags FROM generations g`;

function fromRow(r: Row): Generation {
  return {
    id: r.id,
    kind: r.kind as Generation['kind'],
    prompt: r.prompt,
    negativePrompt: r.negative_prompt,
    params: JSON.parse(r.params),
    model: { id: r.model_id, name: r.model_name, hash: r.model_hash },
    loras: JSON.parse(r.loras),
    imagePath: r.image_path,
    thumbnailPath: r.thumbnail_path,
    maskPath: r.mask_path,
    parentId: r.parent_id,
    jobId: r.job_id,
    timings: JSON.parse(r.timings),
    createdAt: r.created_at,
    favourite: r.favourite === 1,
    tags: r.tags ? (JSON.parse(r.tags) as string[]).sort() : [],
    trashedAt: r.trashed_at,
  };
}

/** User text → an FTS5 expression over the prompt column: every word must match, each as a prefix. */
export function ftsQuery(text: string): string | null {
  const words = text.match(/[\p{L}\p{N}_]+/gu) ?? [];
  if (words.length === 0) return null;
  return `prompt : (${words.map((w) => `"${w}"*`).join(' AND ')})`;
}

export type SearchInput = HistoryFilter & { limit: number; offset: number };

export class HistoryStore {
  constructor(
    private readonly db: Db,
    private readonly gallery: Gallery,
  ) {}

  insert(g: Generation): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO generations (id, kind, prompt, negative_prompt, params, model_id, model_name, model_hash, loras,
             image_path, thumbnail_path, mask_path, parent_id, job_id, timings, created_at, favourite, trashed_at)
           VALUES (@id, @kind, @prompt, @negativePrompt, @params, @modelId, @modelName, @modelHash, @loras,
             @imagePath, @thumbnailPath, @maskPath, @parentId, @jobId, @timings, @createdAt, @favourite, @trashedAt)`,
        )
        .run({
          ...g,
          params: JSON.stringify(g.params),
          modelId: g.model.id,
          modelName: g.model.name,
          modelHash: g.model.hash,
          loras: JSON.stringify(g.loras),
          timings: JSON.stringify(g.timings),
          favourite: g.favourite ? 1 : 0,
        });
      const tag = this.db.prepare('INSERT OR IGNORE INTO generation_tags (generation_id, tag) VALUES (?, ?)');
      for (const t of g.tags) tag.run(g.id, t);
    })();
  }

  has(id: string): boolean {
    return this.db.prepare('SELECT 1 FROM generations WHERE id = ?').get(id) !== undefined;
  }

  get(id: string): Generation {
    const row = this.db.prepare(`${SELECT} WHERE g.id = ?`).get(id) as Row | undefined;
    if (!row) throw new StudioError(`No generation with id "${id}" in the history.`, 'not_found');
    return fromRow(row);
  }

  search(f: SearchInput): { items: Generation[]; total: number; nextOffset: number | null } {
    const where: string[] = [f.trashed ? 'g.trashed_at IS NOT NULL' : 'g.trashed_at IS NULL'];
    const args: Record<string, unknown> = {};
    const match = ftsQuery(f.query);
    let from = 'generations g';
    let order = 'g.created_at DESC, g.rowid DESC';
    if (match) {
      from = 'generations_fts JOIN generations g ON g.rowid = generations_fts.rowid';
      where.push('generations_fts MATCH @match');
      args.match = match;
      order = 'bm25(generations_fts) ASC, g.created_at DESC';
    }
    const filter = (value: unknown, name: string, cond: string): void => {
      if (value === undefined) return;
      where.push(cond);
      args[name] = value;
    };
    filter(f.modelId, 'modelId', 'g.model_id = @modelId');
    filter(f.favourite === undefined ? undefined : Number(f.favourite), 'fav', 'g.favourite = @fav');
    filter(f.kind, 'kind', 'g.kind = @kind');
    filter(f.from, 'from', 'g.created_at >= @from');
    filter(f.to, 'to', 'g.created_at <= @to');
    filter(f.tag, 'tag', 'EXISTS (SELECT 1 FROM generation_tags t WHERE t.generation_id = g.id AND t.tag = @tag)');
    const cond = where.join(' AND ');
    const { n } = this.db.prepare(`SELECT COUNT(*) AS n FROM ${from} WHERE ${cond}`).get(args) as { n: number };
    const rows = this.db
      .prepare(
        `SELECT g.*, (SELECT json_group_array(tag) FROM generation_tags t WHERE t.generation_id = g.id) AS tags
         FROM ${from} WHERE ${cond} ORDER BY ${order} LIMIT @limit OFFSET @offset`,
      )
      .all({ ...args, limit: f.limit, offset: f.offset }) as Row[];
    const next = f.offset + rows.length;
    return { items: rows.map(fromRow), total: n, nextOffset: next < n ? next : null };
  }

  setFavourite(id: string, favourite: boolean): Generation {
    this.get(id);
    this.db.prepare('UPDATE generations SET favourite = ? WHERE id = ?').run(favourite ? 1 : 0, id);
    return this.get(id);
  }

  tag(id: string, add: readonly string[], remove: readonly string[]): Generation {
    this.get(id);
    this.db.transaction(() => {
      const ins = this.db.prepare('INSERT OR IGNORE INTO generation_tags (generation_id, tag) VALUES (?, ?)');
      const del = this.db.prepare('DELETE FROM generation_tags WHERE generation_id = ? AND tag = ?');
      for (const t of add) ins.run(id, t.trim());
      for (const t of remove) del.run(id, t);
    })();
    return this.get(id);
  }

  /** Marks the rows first and then moves the files: a crash in between leaves a trashed row whose file gallery.read still finds. */
  async trash(ids: readonly string[]): Promise<string[]> {
    const gens = ids.map((id) => this.get(id)).filter((g) => g.trashedAt === null);
    const now = Date.now();
    this.db.transaction(() => {
      const upd = this.db.prepare('UPDATE generations SET trashed_at = ? WHERE id = ?');
      for (const g of gens) upd.run(now, g.id);
    })();
    for (const g of gens) await this.gallery.trash(filesOf(g));
    return gens.map((g) => g.id);
  }

  async restore(ids: readonly string[]): Promise<string[]> {
    const gens = ids.map((id) => this.get(id)).filter((g) => g.trashedAt !== null);
    for (const g of gens) await this.gallery.restore(filesOf(g));
    this.db.transaction(() => {
      const upd = this.db.prepare('UPDATE generations SET trashed_at = NULL WHERE id = ?');
      for (const g of gens) upd.run(g.id);
    })();
    return gens.map((g) => g.id);
  }

  async purge(ids: readonly string[]): Promise<string[]> {
    const gens = ids.map((id) => this.get(id));
    const live = gens.filter((g) => g.trashedAt === null);
    if (live.length > 0) {
      throw new StudioError(`Only generations in the trash can be removed for good; delete ${live[0]!.id} first.`, 'not_trashed');
    }
    this.db.transaction(() => {
      const del = this.db.prepare('DELETE FROM generations WHERE id = ?');
      for (const g of gens) del.run(g.id);
    })();
    for (const g of gens) await this.gallery.purge(filesOf(g));
    return gens.map((g) => g.id);
  }

  /** Reads a generation's file, wherever it lies (the trash included). */
  async readFile(g: Generation, relPath: string): Promise<Buffer> {
    try {
      return await this.gallery.read(g.trashedAt === null ? relPath : `trash/${relPath}`);
    } catch (err) {
      if ((err as StudioError).code !== 'not_found') throw err;
      return this.gallery.read(g.trashedAt === null ? `trash/${relPath}` : relPath);
    }
  }

  prompts(query: string, limit: number): PromptSuggestion[] {
    const match = ftsQuery(query);
    const rows = this.db
      .prepare(
        `SELECT g.id, g.prompt, g.negative_prompt, COUNT(*) AS uses, MAX(g.created_at) AS last
         FROM ${match ? 'generations_fts JOIN generations g ON g.rowid = generations_fts.rowid' : 'generations g'}
         WHERE g.trashed_at IS NULL AND g.prompt <> '' ${match ? 'AND generations_fts MATCH @match' : ''}
         GROUP BY g.prompt, g.negative_prompt ORDER BY last DESC LIMIT @limit`,
      )
      .all(match ? { match, limit } : { limit }) as { id: string; prompt: string; negative_prompt: string; uses: number; last: number }[];
    return rows.map((r) => ({ prompt: r.prompt, negativePrompt: r.negative_prompt, uses: r.uses, lastUsedAt: r.last, lastGenerationId: r.id }));
  }

  /**
   * Writes to a temp file beside the target and moves it into place, so a large export never lies
   * half-written; a missing folder or a full disk is a clear error and leaves no temp file. An existing
   * file at `path` is replaced only with `overwrite`.
   */
  async exportJsonl(path: string, withImages = false, overwrite = false): Promise<number> {
    const gens = (this.db.prepare(`${SELECT} ORDER BY g.created_at, g.rowid`).all() as Row[]).map(fromRow);
    const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${newId()}.tmp`);
    let fh: FileHandle | null = null;
    try {
      fh = await open(tmp, 'wx');
      let chunk = '';
      for (const g of gens) {
        const line = withImages ? { ...g, files: await this.filesBase64(g) } : g;
        chunk += `${JSON.stringify(line)}\n`;
        if (chunk.length > 1 << 20) {
          await fh.writeFile(chunk);
          chunk = '';
        }
      }
      await fh.writeFile(chunk);
      await fh.sync();
      await fh.close();
      fh = null;
      if (overwrite) await rename(tmp, path);
      else {
        // link() never replaces: a file that appeared meanwhile is kept.
        await link(tmp, path);
        await rm(tmp, { force: true });
      }
    } catch (err) {
      await fh?.close().catch(() => undefined);
      await rm(tmp, { force: true });
      throw exportError(err, path);
    }
    return gens.length;
  }

  private async filesBase64(g: Generation): Promise<Record<string, string>> {
    const files: Record<string, string> = {};
    for (const rel of filesOf(g)) {
      try {
        files[rel] = (await this.readFile(g, rel)).toString('base64');
      } catch (err) {
        if ((err as StudioError).code !== 'not_found') throw err;
      }
    }
    return files;
  }

  async importJsonl(path: string): Promise<{ imported: number; skipped: number; errors: { line: number; message: string }[] }> {
    let lineNo = 0;
    let imported = 0;
    let skipped = 0;
    const errors: { line: number; message: string }[] = [];
    const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
    try {
      for await (const line of lines) {
        lineNo++;
        if (line.trim() === '') continue;
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch (err) {
          // The parser's message quotes the line: never echo a file's content.
          errors.push({ line: lineNo, message: 'not a JSON object (is this a history export?)' });
          continue;
        }
        const parsed = generationSchema.safeParse(value);
        if (!parsed.success) {
          errors.push({ line: lineNo, message: parsed.error.issues.map((i) => `${i.path.join('.') || 'the row'}: ${i.code === 'invalid_type' ? `expected ${(i as { expected?: string }).expected ?? 'another type'}` : 'not a valid value'}`).join('; ') });
          continue;
        }
        const badName = galleryNameProblem(parsed.data);
        if (badName) {
          errors.push({ line: lineNo, message: `refused: ${badName}` });
          continue;
        }
        if (this.has(parsed.data.id)) {
          skipped++;
          continue;
        }
        const g = parsed.data;
        const files = (value as { files?: unknown }).files;
        if (files && typeof files === 'object') {
          // Only the generation's own files, and never over a file that is already there.
          const own = new Set(filesOf(g));
          for (const [rel, b64] of Object.entries(files as Record<string, unknown>)) {
            if (!own.has(rel) || typeof b64 !== 'string') continue;
            await this.gallery.writeIfMissing(g.trashedAt === null ? rel : `trash/${rel}`, Buffer.from(b64, 'base64'));
          }
        }
        this.insert(g);
        imported++;
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new StudioError(`No file at ${path} to import.`, 'not_found');
      if (code === 'EISDIR') throw new StudioError(`${path} is a folder; pick a .jsonl history export.`, 'invalid_input');
      if (code === 'ENOSPC') throw new StudioError(`The disk is full: ${imported} rows were imported before it filled; free some space and import again (rows already in are skipped).`, 'disk_full');
      if (err instanceof StudioError) throw err;
      throw new StudioError(`Cannot read ${path} (${code ?? 'read error'}).`, 'read_failed');
    } finally {
      lines.close();
    }
    return { imported, skipped, errors };
  }

  /**
   * Imports images made by any tool; their metadata (A1111, ComfyUI, InvokeAI, Fooocus, NovelAI, stealth info:
   * readImageParameters) fills the prompt and parameters. Unreadable metadata is noted, never a refusal.
   */
  async importImage(path: string): Promise<Generation> {
    const size = await stat(path).then(
      (st) => st.size,
      (err: NodeJS.ErrnoException) => {
        throw new StudioError(`cannot read ${path} (${err.code ?? err.message})`, 'not_found');
      },
    );
    if (size > DEFAULT_IMAGE_LIMITS.maxBytes) {
      throw new StudioError(`${basename(path)} is ${size} bytes, over the ${DEFAULT_IMAGE_LIMITS.maxBytes}-byte limit for images`, 'bad_image');
    }
    const bytes = await readFile(path);
    const read = await readImageParameters(bytes);
    const meta = read.params;
    const id = newId();
    const createdAt = Date.now();
    const stored = await this.gallery.store(id, bytes, { createdAt });
    const extra: Record<string, string> = { ...(meta ? extraFacts(meta) : {}), 'Source file': basename(path) };
    if (meta?.source) extra.Source = meta.source;
    if (read.warnings.length) extra['Metadata warnings'] = read.warnings.join('; ');
    if (meta?.width !== undefined && (meta.width !== stored.width || meta.height !== stored.height)) extra['Picture size'] = `${stored.width}x${stored.height}`;
    const g: Generation = {
      id,
      kind: 'import',
      prompt: meta?.prompt ?? '',
      negativePrompt: meta?.negative ?? '',
      params: {
        // Our sampler names (as jobs take them); a label we do not know stays as the tool wrote it.
        sampler: meta?.sampler ? (parseSamplerLabel(meta.sampler, meta.scheduleType) ?? meta.sampler) : null,
        steps: meta?.steps ?? null,
        guidance: meta?.cfg ?? null,
        seed: meta?.seed ?? null,
        // The size it was generated at (A1111's Size), not the file's: the picture may have been cropped since.
        width: meta?.width ?? stored.width,
        height: meta?.height ?? stored.height,
        strength: meta?.strength ?? null,
        eta: null,
        extra,
      },
      model: { id: null, name: meta?.model ?? null, hash: meta?.modelHash ?? null },
      loras: [],
      imagePath: stored.imagePath,
      thumbnailPath: stored.thumbnailPath,
      maskPath: null,
      parentId: null,
      jobId: null,
      timings: {},
      createdAt,
      favourite: false,
      tags: [],
      trashedAt: null,
    };
    this.insert(g);
    return g;
  }

  defaultExportPath(exportsDir: string): string {
    return join(exportsDir, `history-${new Date().toISOString().replace(/[:.]/g, '-')}.jsonl`);
  }
}

/** A failed export in words: the folder, the disk, or permissions; never a raw stack of fs codes. */
function exportError(err: unknown, path: string): Error {
  if (err instanceof StudioError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new StudioError(`The folder ${dirname(path)} does not exist; pick another place for the export.`, 'not_found');
  if (code === 'EEXIST') return new StudioError(`${path} already exists; pick another name, or ask to overwrite it.`, 'exists');
  if (code === 'ENOSPC' || code === 'EDQUOT') return new StudioError(`The disk is full: the export to ${path} was not written. Free some space and export again.`, 'disk_full');
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return new StudioError(`Cannot write to ${dirname(path)} (${code}); pick another folder.`, 'write_failed');
  return new StudioError(`The export to ${path} failed (${code ?? (err as Error).message}).`, 'write_failed');
}

function filesOf(g: Generation): string[] {
  return [g.imagePath, g.thumbnailPath, ...(g.maskPath ? [g.maskPath] : [])];
}
