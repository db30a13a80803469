// history.* requests: search, favourites, tags, trash, export/import, reuse of a generation's settings.
import { StudioError } from '../../api/contract.ts';
import type { Generation } from '../../api/history.ts';
import type { SubmittedSpec, Txt2imgSpec } from '../../api/jobs.ts';
import { SCHEDULE_TYPE_NAMES } from '../../engine/diffusion/sigma-schedules.ts';
import type { ModelRegistry } from '../models.ts';
import type { DomainHandlers, StudioContext } from './context.ts';

export function historyHandlers({ paths, allowed, emit, history, models }: StudioContext): DomainHandlers<'history'> {
  return {
    'history.search': async (i) => history.search(i),
    'history.get': async ({ id }) => history.get(id),
    'history.favourite': async ({ id, favourite }) => {
      const g = history.setFavourite(id, favourite);
      emit('history.changed', { change: 'updated', ids: [id] });
      return g;
    },
    'history.tag': async ({ id, add, remove }) => {
      const g = history.tag(id, add, remove);
      emit('history.changed', { change: 'updated', ids: [id] });
      return g;
    },
    'history.delete': async ({ ids }) => {
      const done = await history.trash(ids);
      emit('history.changed', { change: 'trashed', ids: done });
      return { trashed: done.length };
    },
    'history.restore': async ({ ids }) => {
      const done = await history.restore(ids);
      emit('history.changed', { change: 'restored', ids: done });
      return { restored: done.length };
    },
    'history.purge': async ({ ids }) => {
      const done = await history.purge(ids);
      emit('history.changed', { change: 'purged', ids: done });
      return { purged: done.length };
    },
    'history.export': async ({ path, withImages, overwrite }) => {
      const file = path === undefined ? history.defaultExportPath(paths.exports) : allowed.writable(path, 'history export', overwrite);
      return { path: file, count: await history.exportJsonl(file, withImages, overwrite) };
    },
    'history.import': async ({ path }) => {
      const r = await history.importJsonl(allowed.readable(path, 'history file'));
      if (r.imported) emit('history.changed', { change: 'imported', ids: [] });
      return r;
    },
    'history.importImages': async ({ paths: files }) => {
      const imported: Generation[] = [];
      const errors: { path: string; message: string }[] = [];
      for (const p of files) {
        try {
          imported.push(await history.importImage(allowed.readable(p, 'image')));
        } catch (err) {
          errors.push({ path: p, message: (err as Error).message });
        }
      }
      if (imported.length) emit('history.changed', { change: 'imported', ids: imported.map((g) => g.id) });
      return { imported, errors };
    },
    'history.prompts': async ({ query, limit }) => history.prompts(query, limit),
    'history.reuse': async ({ id }) => reuse(models, history.get(id)),
  };
}

/** A generation's settings as a job spec; what the picture does not record is left to the model's defaults. */
function reuse(models: ModelRegistry, g: Generation): SubmittedSpec {
  const modelId = g.model.id ?? models.findByHash(g.model.hash)?.id;
  if (!modelId) throw new StudioError(`The model of this image (${g.model.name ?? 'unknown'}) is not in the registry; import it first.`, 'not_found');
  if (g.kind === 'upscale') {
    if (!g.parentId) throw new StudioError('This upscaled picture does not say which picture it came from, so it cannot be made again.', 'invalid_input');
    return { kind: 'upscale', modelId, init: { generationId: g.parentId }, sampler: g.params.sampler ?? undefined, steps: g.params.steps ?? undefined, seed: g.params.seed, batchCount: 1, eta: g.params.eta ?? 0 };
  }
  const common = {
    modelId,
    prompt: g.prompt,
    negativePrompt: g.negativePrompt,
    sampler: g.params.sampler ?? undefined,
    steps: g.params.steps ?? undefined,
    guidance: g.params.guidance ?? undefined,
    seed: g.params.seed,
    width: g.params.width - (g.params.width % 8),
    height: g.params.height - (g.params.height % 8),
    batchCount: 1,
    eta: g.params.eta ?? 0,
    scheduleType: (SCHEDULE_TYPE_NAMES as readonly string[]).includes(g.params.scheduleType ?? '') ? (g.params.scheduleType as Txt2imgSpec['scheduleType']) : undefined,
    rngSource: g.params.rngSource,
    variationSeed: g.params.variationSeed,
    variationStrength: g.params.variationStrength,
    resizeSeedFrom: g.params.resizeSeedFrom,
    ensd: g.params.ensd,
    loras: g.loras.flatMap((l) => {
      const m = models.findByHash(l.hash, 'lora') ?? models.list('lora').find((x) => x.name === l.name);
      return m ? [{ modelId: m.id, strength: l.strength }] : [];
    }),
  };
  if (g.kind === 'img2img' && g.parentId) return { kind: 'img2img', ...common, init: { generationId: g.parentId }, strength: g.params.strength ?? 0.75 };
  return { kind: 'txt2img', ...common };
}
