// models.* requests: the registry's list, import, settings, details and deletion.
import { StudioError } from '../../api/contract.ts';
import type { ModelInfo } from '../../api/models.ts';
import { inpaintingModel } from '../inpaint-model.ts';
import { readModelDetails } from '../model-details.ts';
import { modelTraits } from '../model-traits.ts';
import type { DomainHandlers, StudioContext } from './context.ts';

export function modelsHandlers({ allowed, emit, models, queue }: StudioContext): DomainHandlers<'models'> {
  const inpaintedBy = async (m: ModelInfo) => {
    if (m.kind !== 'ldm') return null;
    const used = await inpaintingModel(models, m);
    return used.id === m.id ? null : { id: used.id, name: used.name };
  };
  return {
    'models.list': async ({ kind }) => Promise.all(models.list(kind).map(async (m) => ({ ...m, traits: await modelTraits(m), inpaintedBy: await inpaintedBy(m) }))),
    'models.get': async ({ id }) => {
      const m = models.get(id);
      return { ...m, traits: await modelTraits(m), inpaintedBy: await inpaintedBy(m) };
    },
    'models.validate': async ({ path }) => {
      try {
        allowed.readable(path, 'model');
      } catch (err) {
        return { ok: false, kind: null, format: null, errors: [(err as Error).message], warnings: [] };
      }
      return models.validate(path);
    },
    'models.import': async ({ path, name }) => {
      const m = await models.import(allowed.readable(path, 'model'), name);
      emit('models.changed', { ids: [m.id] });
      return m;
    },
    'models.setVae': async ({ id, vaeId }) => {
      const m = models.setVae(id, vaeId);
      emit('models.changed', { ids: [m.id] });
      return { ...m, traits: await modelTraits(m) };
    },
    'models.setWeights': async ({ id, weights }) => {
      const m = models.setWeights(id, weights);
      emit('models.changed', { ids: [m.id] });
      return { ...m, traits: await modelTraits(m) };
    },
    'models.rename': async ({ id, name }) => {
      const m = models.rename(id, name);
      emit('models.changed', { ids: [m.id] });
      return { ...m, traits: await modelTraits(m) };
    },
    'models.details': async ({ id }) => readModelDetails(models.get(id)),
    'models.delete': async ({ id }) => {
      const m = models.get(id);
      const busy = queue.list(['running', 'queued', 'paused'], 1000).find((j) => JSON.stringify(j.spec).includes(JSON.stringify(id)));
      if (busy) throw new StudioError(`"${m.name}" is used by job ${busy.id} (${busy.status}): cancel it or let it finish, then delete the model.`, 'busy');
      const trashedTo = await models.delete(id);
      emit('models.changed', { ids: [id] });
      return { id, trashedTo };
    },
    'models.setPrediction': async ({ id, prediction }) => {
      const m = models.setPrediction(id, prediction);
      emit('models.changed', { ids: [m.id] });
      return { ...m, traits: await modelTraits(m) };
    },
  };
}
