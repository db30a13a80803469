// A picture size the model cannot draw (a side not a multiple of its size step: the autoencoder's factor
// × 2 per UNet downsampling) is refused at submit with the nearest sizes it can draw, not at the UNet.
import { describe, expect, it } from 'vitest';
import { dispatch } from '../../electron/api/dispatch.ts';
import { EMBEDDED_MODELS_DIR } from '../../electron/services/studio.ts';
import { sizeStepOf } from '../../electron/services/model-traits.ts';
import { validateModelPackage } from '../../electron/engine/io/model-package.ts';
import { txt2img, useTestStudio } from './helpers.ts';

describe('model size step', () => {
  const t = useTestStudio({ perTest: false });

  it('is served with the traits and refuses a txt2img size off the step at submit', async () => {
    const [probe] = await t.studio.handlers['models.list']({ kind: 'ldm' });
    // The probe package: autoencoder f = 8, UNet halves once.
    expect(probe!.traits?.sizeStep).toBe(16);
    const r = await dispatch(t.studio, 'jobs.submit', { spec: txt2img('a red fox', { width: 24, height: 16 }) });
    expect(r).toEqual({ ok: false, error: { code: 'invalid_input', message: '"probe" draws sizes in steps of 16 px, so 24×16 cannot be drawn: use 16×16 or 32×16.' } });
    expect(await t.studio.handlers['jobs.list']({ limit: 10 })).toEqual([]);
    const ok = await dispatch(t.studio, 'jobs.submit', { spec: txt2img('a red fox', { width: 32, height: 16 }) });
    expect(ok.ok).toBe(true);
  });

  it('is 16 px for the embedded emoji model (f = 4, the UNet halves twice)', async () => {
    const { manifest } = await validateModelPackage(`${EMBEDDED_MODELS_DIR}/emoji-ldm-32`);
    expect(sizeStepOf({ autoencoder: manifest.architecture.autoencoder, unet: manifest.architecture.unet! })).toBe(16);
  });
});
