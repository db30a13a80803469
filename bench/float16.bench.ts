// The float16 graph variant (onnx/float16.ts, what GPU providers run) against float32 on the embedded
// model, measured on the CPU, where onnxruntime runs the float16 graph by casting around the kernels it
// lacks (so its time here says nothing about a GPU; the pictures' difference is what this measures).
// txt2img for fixed seeds; PSNR of the final 8-bit pictures against float32, their mean and largest
// difference in levels. Not a test; prints figures (and appends them to --out).
//
//   npx tsx bench/float16.bench.ts [--seeds 4] [--steps 20] [--threads 2] [--out bench/results/float16.txt]
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadModel } from '../electron/engine/pipelines/loaded-model.ts';
import { txt2img } from '../electron/engine/pipelines/txt2img.ts';

const args = process.argv.slice(2);
const flag = (name: string, d: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : d);
const seeds = Number(flag('--seeds', '4'));
const steps = Number(flag('--steps', '20'));
const threads = Number(flag('--threads', '2'));
const dir = path.resolve('resources/models/emoji-ldm-32');
const prompts = ['a smiling face', 'a red heart', 'a cat face', 'a green tree'];

const f32 = await loadModel(dir, { provider: 'cpu', threads });
const f16 = await loadModel(dir, { provider: 'cpu', threads, precision: 'float16' });
const lines = [`embedded model (emoji-ldm-32), txt2img 32², ${steps} steps, ${seeds} seeds, float16 variant vs float32 (CPU, ${threads} threads); ${new Date().toISOString()}; load average ${os.loadavg()[0]!.toFixed(1)}`,
  'seed  prompt               PSNR dB   mean |Δ| levels   max |Δ| levels'];
let psnrSum = 0;
const time = { f32: 0, f16: 0 };
for (let s = 0; s < seeds; s++) {
  const opts = { prompt: prompts[s % prompts.length]!, seed: 100 + s, steps, width: 32, height: 32 };
  let t = performance.now();
  const [a] = await txt2img(f32, opts);
  time.f32 += performance.now() - t;
  t = performance.now();
  const [b] = await txt2img(f16, opts);
  time.f16 += performance.now() - t;
  const x = a!.image.data;
  const y = b!.image.data;
  let se = 0;
  let sum = 0;
  let max = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i]! - y[i]!);
    se += d * d;
    sum += d;
    max = Math.max(max, d);
  }
  const psnr = se === 0 ? Infinity : 10 * Math.log10((255 * 255) / (se / x.length));
  psnrSum += psnr;
  lines.push(`${String(opts.seed).padEnd(5)} ${opts.prompt.padEnd(18)} ${psnr.toFixed(1).padStart(9)} ${(sum / x.length).toFixed(3).padStart(17)} ${String(max).padStart(16)}`);
}
lines.push(`mean PSNR ${(psnrSum / seeds).toFixed(1)} dB; runs on ${await f32.runsOn()} / ${await f16.runsOn()}; CPU time per image ${(time.f32 / seeds / 1000).toFixed(2)} s fp32, ${(time.f16 / seeds / 1000).toFixed(2)} s fp16 (CPU casts; not a GPU figure)`);
await Promise.all([f32.release(), f16.release()]);
console.log(lines.join('\n'));
const out = flag('--out', '');
if (out) {
  await fsp.mkdir(path.dirname(out), { recursive: true });
  await fsp.appendFile(out, `${lines.join('\n')}\n\n`);
}
