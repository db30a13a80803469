// Fine-tuning benchmark (printed, not pass/fail): training steps/s and images/s of LoRA and of full
// UNet fine-tuning on the embedded model (resources/models/, or a stand-in package with the embedded
// architecture and random weights when none is installed), on a folder of Noto emoji PNGs; setup time
// (data, latents, graph, session) apart from the step loop; peak resident memory per method.
// Run: npx tsx bench/finetune.bench.ts [--steps N] [--batch B] [--threads N] [--images N] [--quick]
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { finetune, type FinetuneOptions } from '../electron/engine/finetune/train.ts';
import { saveModelPackage } from '../electron/engine/io/model-package.ts';
import { randomWeights } from '../electron/engine/nn/models.ts';
import { AUTOENCODER, IMAGE_SIZE, UNET, textEncoderConfig } from '../scripts/embedded/config.ts';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const quick = args.includes('--quick');
const steps = flag('steps', quick ? 6 : 30);
const batch = flag('batch', 4);
const threads = flag('threads', 2);
const images = flag('images', 16);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'finetune-bench-'));

async function embeddedModel(): Promise<{ dir: string; what: string }> {
  const models = path.join(repo, 'resources/models');
  for (const d of existsSync(models) ? await fsp.readdir(models) : []) {
    if (existsSync(path.join(models, d, 'model.json'))) return { dir: path.join(models, d), what: `embedded package ${d}` };
  }
  const vocabulary = ['<pad>', '<start>', '<end>', ...Array.from({ length: 97 }, (_, i) => `w${i}`)];
  const textEncoder = textEncoderConfig(vocabulary.length);
  const dir = path.join(root, 'stand-in');
  await saveModelPackage(dir, {
    name: 'embedded-stand-in', kind: 'txt2img',
    architecture: { autoencoder: AUTOENCODER, unet: UNET, textEncoder },
    tokenizer: { type: 'word', vocabulary, maxLength: textEncoder.maxLength },
    scheduler: { betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012, trainTimesteps: 1000, prediction: 'epsilon' },
    sampling: { sampler: 'ddim', steps: 25, guidance: 5, width: IMAGE_SIZE, height: IMAGE_SIZE },
    latentScaleFactor: 1, provenance: { createdBy: 'bench/finetune.bench.ts' }, license: 'Apache-2.0',
  }, randomWeights({ autoencoder: AUTOENCODER, unet: UNET, textEncoder }, 1));
  return { dir, what: 'stand-in package with the embedded architecture (random weights; none installed in resources/models/)' };
}

async function emojiFolder(n: number): Promise<string> {
  const src = path.join(repo, 'node_modules/emoji-datasource-google/img/google/64');
  const dir = path.join(root, 'data');
  await fsp.mkdir(dir, { recursive: true });
  const files = (await fsp.readdir(src)).filter((f) => f.endsWith('.png')).sort().slice(0, n);
  for (const f of files) await fsp.copyFile(path.join(src, f), path.join(dir, f));
  return dir;
}

const base = await embeddedModel();
const data = await emojiFolder(images);
console.log(`${base.what}; ${images} emoji PNGs (64² → ${IMAGE_SIZE}²), batch ${batch}, ${steps} steps, ${threads} threads`);

const MiB = (kb: number) => `${(kb / 1024).toFixed(0)} MiB`;
for (const method of ['lora', 'full'] as const) {
  const t0 = performance.now();
  let firstStep = 0;
  let lastStep = 0;
  const o: FinetuneOptions = {
    base: base.dir, data, method, steps, batchSize: batch, threads, saveEvery: steps + 1,
    out: method === 'full' ? path.join(root, 'out-full') : path.join(root, 'out-lora.safetensors'),
    onProgress: (e) => {
      if (e.phase !== 'train') return;
      if (e.step === 1) firstStep = performance.now();
      lastStep = performance.now();
    },
  };
  const rssBefore = process.resourceUsage().maxRSS;
  const r = await finetune(o);
  const loopS = (lastStep - firstStep) / 1000; // steps 2…N: the first step includes onnxruntime's warm-up
  const perS = (steps - 1) / loopS;
  console.log(
    `${method.padEnd(4)}: ${perS.toFixed(2)} steps/s, ${(perS * batch).toFixed(1)} images/s; setup + first step ${((firstStep - t0) / 1000).toFixed(1)} s, `
      + `whole run ${r.seconds.toFixed(1)} s; last loss ${r.losses.at(-1)!.loss.toFixed(4)}; peak RSS ${MiB(process.resourceUsage().maxRSS)}`
      + (process.resourceUsage().maxRSS > rssBefore ? ` (raised from ${MiB(rssBefore)})` : ''),
  );
}
await fsp.rm(root, { recursive: true, force: true });
