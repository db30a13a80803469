// `npm run train:default -- [--stage autoencoder|ldm|decoder|package|all|sr-decoder|sr|sr-package|inpaint] [--minutes N]`
// Trains the embedded model in stages with the engine's own trainer. Every stage resumes from its
// checkpoint under training/embedded/ (training/embedded-sr/ for the ×4 super-resolution model, stages
// sr-decoder, sr and sr-package; training/embedded-inpaint/ for the inpainting fine-tune, stages
// inpaint and inpaint-package; training/embedded-class/ for the class-conditional LDM, stages class-ldm and class-package;
// training/embedded-classifier/ for the emoji classifier of `ldm eval`, stage classifier; training/embedded-colour/ for the colour-caption fine-tune of the shipped text model, stages ldm-colour and ldm-colour-package (training/embedded-colour-text/, stages ldm-colour-text and ldm-colour-text-package: text side only);
// training/ablation/<variant>/ for the downsampling-factor ablation, stages ablation-autoencoder and ablation-ldm with
// --variant f1|f2|f4|f8|f4-vq and budgets in CPU minutes (scripts/ablation/variants.ts),
// then ablation-eval --variant V --at M, ablation-reconstruction and ablation-report (docs/f-ablation.md); 'all' leaves these out), so a run can be interrupted at any moment and continued.
import { parseArgs } from 'node:util';
import { trainAutoencoder, trainDecoder } from './embedded/train-autoencoder.ts';

const { values } = parseArgs({
  options: {
    stage: { type: 'string', default: 'all' },
    minutes: { type: 'string', default: '30' },
    variant: { type: 'string' },
    at: { type: 'string' },
    n: { type: 'string' },
    seed: { type: 'string' },
    batch: { type: 'string' },
  },
});
const minutes = Number(values.minutes);
if (!(minutes > 0)) throw new Error(`--minutes must be a positive number, got ${values.minutes}`);
const stage = values.stage!;
const stages = ['autoencoder', 'ldm', 'decoder', 'package'];
const ablationStages = ['ablation-autoencoder', 'ablation-ldm'];
const srStages = [...ablationStages, 'ablation-eval', 'ablation-reconstruction', 'ablation-report', 'classifier', 'class-ldm', 'class-package', 'sr-decoder', 'sr-encoder', 'sr', 'sr-package', 'inpaint', 'inpaint-package', 'ldm-colour', 'ldm-colour-package', 'ldm-colour-text', 'ldm-colour-text-package'];
if (stage !== 'all' && !stages.includes(stage) && !srStages.includes(stage)) {
  throw new Error(`--stage must be one of ${[...stages, ...srStages].join(', ')} or all`);
}

if (stage === 'autoencoder' || stage === 'all') {
  const t = await trainAutoencoder({ minutes });
  await t.close();
}
if (stage === 'ldm' || stage === 'all') {
  const { trainLdm } = await import('./embedded/train-ldm.ts');
  await trainLdm({ minutes });
}
if (stage === 'decoder' || stage === 'all') {
  const t = await trainDecoder({ minutes: minutes / 3 });
  await t.close();
}
if (stage === 'package' || stage === 'all') {
  const { packageEmbeddedModel } = await import('./embedded/package.ts');
  await packageEmbeddedModel();
}
if (stage === 'sr-decoder') {
  const { trainSrDecoder } = await import('./embedded/train-sr.ts');
  await trainSrDecoder({ minutes });
}
if (stage === 'sr-encoder') {
  const { trainSrEncoder } = await import('./embedded/train-sr.ts');
  await trainSrEncoder({ minutes });
}
if (stage === 'sr') {
  const { trainSr } = await import('./embedded/train-sr.ts');
  await trainSr({ minutes });
}
if (stage === 'sr-package') {
  const { packageSrModel } = await import('./embedded/package-sr.ts');
  await packageSrModel();
}
if (stage === 'inpaint') {
  const { trainInpaint } = await import('./embedded/train-inpaint.ts');
  await trainInpaint({ minutes });
}
if (stage === 'inpaint-package') {
  const { packageInpaintModel } = await import('./embedded/package-inpaint.ts');
  await packageInpaintModel();
}
if (stage === 'class-ldm') {
  const { trainClassLdm } = await import('./embedded/train-class.ts');
  await trainClassLdm({ minutes });
}
if (stage === 'class-package') {
  const { packageClassModel } = await import('./embedded/package-class.ts');
  await packageClassModel();
}
if (stage === 'ldm-colour') {
  const { trainColour } = await import('./embedded/train-colour.ts');
  await trainColour({ minutes });
}
if (stage === 'ldm-colour-text') {
  const { trainColour } = await import('./embedded/train-colour.ts');
  await trainColour({ minutes, textOnly: true });
}
if (stage === 'ldm-colour-package' || stage === 'ldm-colour-text-package') {
  const { packageColourCandidate } = await import('./embedded/package-colour.ts');
  await packageColourCandidate(stage === 'ldm-colour-text-package');
}
if (stage === 'classifier') {
  const { trainClassifier } = await import('./embedded/train-classifier.ts');
  await trainClassifier({ minutes });
}
if (ablationStages.includes(stage)) {
  const { variantByName } = await import('./ablation/variants.ts');
  const { trainAblationAutoencoder, trainAblationLdm } = await import('./ablation/train.ts');
  if (!values.variant) throw new Error(`--stage ${stage} needs --variant f1|f2|f4|f8|f4-vq`);
  const v = variantByName(values.variant);
  // --minutes caps this process only (CPU minutes); the variant's budget is in variants.ts.
  const o = { minutes: process.argv.includes('--minutes') ? minutes : undefined };
  if (stage === 'ablation-autoencoder') await trainAblationAutoencoder(v, o);
  else await trainAblationLdm(v, o);
}
if (stage === 'ablation-eval') {
  // --at: the snapshot's CPU-minutes; --n/--seed/--batch: see scripts/ablation/evaluate.ts EVAL_SETTINGS
  const { evaluateSnapshot } = await import('./ablation/evaluate.ts');
  if (!values.variant || !values.at) throw new Error('--stage ablation-eval needs --variant f1|f2|f4|f8|f4-vq and --at CPU-minutes (a snapshot of SNAPSHOT_CPU_MINUTES in scripts/ablation/variants.ts)');
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  await evaluateSnapshot(values.variant, Number(values.at), { n: num(values.n), seed: num(values.seed), batch: num(values.batch) });
}
if (stage === 'ablation-reconstruction') {
  const { measureReconstructions } = await import('./ablation/reconstruction.ts');
  await measureReconstructions();
}
if (stage === 'ablation-report') {
  const { writeAblationReport } = await import('./ablation/report.ts');
  await writeAblationReport();
}
