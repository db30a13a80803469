// `ldm paper MODEL …`: the paper's released models (CompVis latent-diffusion) from a .ckpt (read by the
// restricted reader) or .safetensors, each running the job that fits it: text-to-image (LDM-KL-8-G),
// class-conditional ImageNet (cin256-v2), unconditional, ×4 super-resolution (bsr_sr), inpainting
// (inpainting_big), and the VQ/KL autoencoders (encode + decode round trip). `--info` only says what it is.
import sharp from 'sharp';
import { writeBytesAtomic } from '../engine/io/atomic.ts';
import { writePngText } from '../engine/io/png-metadata.ts';
import { imagenetClassNames } from '../engine/families/ldm-classes.ts';
import { inpaintLdm, openLdmRelease, roundTrip, sampleLdm, upscaleLdm, type LdmSampleOptions } from '../engine/families/ldm-run.ts';
import { imageToTensor, tensorToImage } from '../engine/pipelines/image.ts';
import { maskFromImage } from '../engine/pipelines/mask.ts';
import type { TensorData } from '../engine/tensor.ts';
import { parseCommandLine, UsageError, type FlagSpecs } from './args.ts';
import type { Command } from './command.ts';
import { readImageFile } from './image-files.ts';
import type { CliIo } from './command.ts';

const PAPER_FLAGS: FlagSpecs = {
  info: { type: 'boolean', help: 'only say which release the file is, its configs and what was assumed' },
  ema: { type: 'boolean', help: "sample with the UNet's EMA copy (model_ema.*) where the file has one" },
  prompt: { type: 'string', arg: 'TEXT', help: 'text-to-image (txt2img-f8-large): the prompt' },
  class: { type: 'string', arg: 'N|NAME', help: "class-conditional (cin256-v2): ImageNet class index or name ('giant panda')" },
  image: { type: 'string', arg: 'FILE', help: 'autoencoder: the picture to encode and decode; bsr_sr: the low-res picture; inpainting: the picture' },
  mask: { type: 'string', arg: 'FILE', help: 'inpainting: white = repaint, black = keep' },
  seed: { type: 'int', help: 'seed (default 0)' },
  steps: { type: 'int', help: 'DDIM steps (default 50)' },
  sampler: { type: 'string', arg: 'NAME', help: 'sampler (default ddim, as the paper)' },
  eta: { type: 'number', help: 'DDIM eta (default 0)' },
  cfg: { type: 'number', help: 'guidance scale: empty prompt (text) or class 1000 (cin256-v2) as the negative (default 1 = off)' },
  size: { type: 'size', help: 'output size WxH (default 256x256)' },
  out: { type: 'string', short: 'o', arg: 'FILE', help: 'output PNG' },
};

export const paperCommand: Command = {
  summary: "run one of the paper's released LDMs or autoencoders (.ckpt or .safetensors)",
  args: 'MODEL [--info] [--prompt TEXT | --class N | --image FILE [--mask FILE]] --out FILE.png',
  flags: PAPER_FLAGS,
  run: paper,
};

async function writePng(file: string, t: TensorData<'float32'>, parameters: string): Promise<void> {
  const img = tensorToImage(t);
  const png = await sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } }).png().toBuffer();
  await writeBytesAtomic(file, writePngText(new Uint8Array(png), { parameters }));
}

async function paper(argv: readonly string[], io: CliIo): Promise<void> {
  const p = parseCommandLine(argv, PAPER_FLAGS);
  if (p.positionals.length !== 1) throw new UsageError("'ldm paper' takes one model file: ldm paper MODEL.ckpt --out out.png");
  const f = p.flags as Record<string, unknown>;
  const opened = await openLdmRelease(p.positionals[0]!, { ema: f.ema === true });
  const { release: r, model } = opened;
  try {
    io.stdout.write(`${r.label}\n`);
    for (const n of opened.notes) io.stdout.write(`  ${n}\n`);
    if (f.info) {
      io.stdout.write(`${JSON.stringify({ release: r.release, task: r.task, autoencoder: r.autoencoder, unet: r.unet, classEmbedder: r.classEmbedder, bert: r.bert, scaleFactor: r.scaleFactor }, null, 1)}\n`);
      return;
    }
    const out = f.out as string | undefined;
    if (!out) throw new UsageError('--out FILE.png is required (or --info)');
    const size = f.size as { width: number; height: number } | undefined;
    const o: LdmSampleOptions = {
      seed: (f.seed as number | undefined) ?? 0,
      steps: f.steps as number | undefined,
      sampler: f.sampler as string | undefined,
      eta: f.eta as number | undefined,
      guidance: f.cfg as number | undefined,
      width: size?.width,
      height: size?.height,
      prompt: f.prompt as string | undefined,
      classLabel: f.class as string | undefined,
      signal: io.signal,
    };
    const needImage = (): Promise<TensorData<'float32'>> => {
      if (!f.image) throw new UsageError(`${r.release} needs --image FILE`);
      return readImageFile(f.image as string).then(imageToTensor);
    };
    let result: TensorData<'float32'>;
    let what: string;
    switch (r.task) {
      case 'autoencoder':
        result = (await roundTrip(model, await needImage())).image;
        what = 'encoded and decoded';
        break;
      case 'super-resolution':
        result = await upscaleLdm(model, await needImage(), o);
        what = 'upscaled ×4';
        break;
      case 'inpainting': {
        if (!f.mask) throw new UsageError('inpainting needs --mask FILE (white = repaint)');
        const mask = maskFromImage(await readImageFile(f.mask as string));
        result = await inpaintLdm(model, await needImage(), mask.data, o);
        what = 'inpainted';
        break;
      }
      default:
        if (r.task === 'text-to-image' && o.prompt === undefined) throw new UsageError(`${r.release} needs --prompt TEXT`);
        if (r.task === 'class-conditional' && o.classLabel === undefined) throw new UsageError(`${r.release} needs --class N (a class index or name${r.classNames ? '' : ', ImageNet\'s'})`);
        result = await sampleLdm(model, o);
        what = 'sampled';
    }
    const cls = o.classLabel !== undefined && /^\d+$/.test(String(o.classLabel)) ? (r.classNames ?? imagenetClassNames())[Number(o.classLabel)] : o.classLabel;
    const head = o.prompt ?? (cls !== undefined ? `class ${o.classLabel}${cls !== o.classLabel ? ` (${cls})` : ''}` : '');
    const parameters = `${head}\nSteps: ${o.steps ?? 50}, Sampler: ${o.sampler ?? 'DDIM'}, CFG scale: ${o.guidance ?? 1}, Seed: ${o.seed}, Size: ${result.shape[3]}x${result.shape[2]}, Model: ${model.name}, Release: ${r.release}`;
    await writePng(out, result, parameters);
    io.stdout.write(`${out}: ${what}, ${result.shape[3]}×${result.shape[2]}\n`);
  } finally {
    await model.close();
  }
}
