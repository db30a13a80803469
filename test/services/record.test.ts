// The parameters text the studio writes: the engine's A1111 text for the same facts, plus the
// studio's extras and version; an upload's unknown facts are left out.
import { describe, expect, it } from 'vitest';
import { formatParameters, parseParameters } from '../../electron/engine/io/generation-params.ts';
import { generationParams } from '../../electron/engine/pipelines/output.ts';
import { infotextOf, type GenerationInput } from '../../electron/services/record.ts';
import { APP_VERSION } from '../../electron/services/system.ts';

const png = new Uint8Array(0);

describe('infotextOf', () => {
  it('is the pipeline text of the same record with the provider and the studio version added', () => {
    const g: GenerationInput = {
      kind: 'inpaint', prompt: 'a fox', negativePrompt: 'blurry', sampler: 'dpmpp_2m_karras', steps: 20, guidance: 7, seed: 42,
      width: 32, height: 32, eta: 0, strength: 0.8, feather: 4, model: { id: 'm1', name: 'probe', hash: '0123456789abcdef' },
      loras: [{ name: 'ink', hash: 'abcdef0123456789', strength: 0.5 }], png, extra: { Provider: 'cpu' },
    };
    const engine = generationParams(g);
    const text = infotextOf(g);
    expect(text).toBe(formatParameters({ ...engine, extras: { ...engine.extras, Provider: 'cpu', Version: `ldm-studio ${APP_VERSION}` } }));
    expect(parseParameters(text)).toMatchObject({ sampler: 'DPM++ 2M', scheduleType: 'Karras', steps: 20, seed: 42, strength: 0.8, loraHashes: { ink: 'abcdef012345' }, extras: { 'Mask blur': '4', Provider: 'cpu' } });
  });

  it('writes only what an upload knows (no sampler, steps, seed or model)', () => {
    const text = infotextOf({
      kind: 'upload', prompt: 'a lake', negativePrompt: '', sampler: null, steps: null, guidance: null, seed: null,
      width: 24, height: 16, model: { name: null, hash: null }, png,
    });
    expect(text).toBe(`a lake\nSize: 24x16, Version: ldm-studio ${APP_VERSION}`);
  });
});
