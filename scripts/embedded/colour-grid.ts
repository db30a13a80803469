// The colour grid of the model card: rows are no colour word, then each colour word; columns are
// concepts; one picture each (seed 1, DDIM 25 steps, CFG 3, the studio's txt2img), shown at 2×.
// `npx tsx scripts/embedded/colour-grid.ts MODEL_DIR OUT.png`
import sharp from 'sharp';
import { COLOUR_DEFAULTS, COLOUR_WORDS } from '../../electron/engine/eval/colour.ts';
import { loadModel } from '../../electron/engine/pipelines/loaded-model.ts';
import { txt2img } from '../../electron/engine/pipelines/txt2img.ts';

export const GRID_CONCEPTS = ['{c} apple, food fruit', '{c} automobile, transport ground', '{c} t-shirt, clothing', '{c} tulip, plant flower', '{c} umbrella, sky & weather', '{c} fish, animal marine'];
export const GRID_ROWS = ['', ...COLOUR_WORDS];

const [dir, out] = process.argv.slice(2);
if (!dir || !out) throw new Error('usage: colour-grid.ts MODEL_DIR OUT.png');
const model = await loadModel(dir, { threads: 1 });
const S = 32;
const up = 2;
const W = GRID_CONCEPTS.length * S * up;
const H = GRID_ROWS.length * S * up;
const canvas = Buffer.alloc(W * H * 3, 255);
for (let r = 0; r < GRID_ROWS.length; r++) {
  for (let col = 0; col < GRID_CONCEPTS.length; col++) {
    const prompt = GRID_CONCEPTS[col]!.replace(GRID_ROWS[r] ? '{c}' : '{c} ', GRID_ROWS[r]!);
    const [g] = await txt2img(model, { prompt, seed: 1, steps: COLOUR_DEFAULTS.steps, guidance: COLOUR_DEFAULTS.guidance, sampler: COLOUR_DEFAULTS.sampler, previewEvery: 0 });
    for (let y = 0; y < S * up; y++)
      for (let x = 0; x < S * up; x++)
        for (let ch = 0; ch < 3; ch++) canvas[((r * S * up + y) * W + col * S * up + x) * 3 + ch] = g!.image.data[(Math.floor(y / up) * S + Math.floor(x / up)) * 3 + ch]!;
  }
}
await model.release();
await sharp(canvas, { raw: { width: W, height: H, channels: 3 } }).png({ palette: true, compressionLevel: 9 }).toFile(out);
console.log(`${out}: rows ${GRID_ROWS.map((r) => r || '(no colour word)').join(', ')}; columns ${GRID_CONCEPTS.map((c) => c.replace('{c} ', '')).join(' | ')}`);
