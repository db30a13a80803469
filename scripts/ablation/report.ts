// The f-ablation's report: every evaluated snapshot (evaluate.ts's eval-<m>min.json under
// <ABLATION_DIR>/<variant>/) as a table, the command lines that reproduce each row, and a plot of FID and
// KID against the LDMs' CPU-minutes (the paper's Fig. 6 at emoji scale), written as SVG by hand.
// `npm run train:default -- --stage ablation-report` writes docs/f-ablation.md, docs/f-ablation.svg and
// docs/f-ablation-samples.png (the first ten samples of each variant's latest snapshot).
// The part of the .md after DISCUSSION_MARKER is written by a person and kept when the report is rewritten.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { evalGridFile, type AblationEval } from './evaluate.ts';
import { reconstructionFile, type ReconstructionEval } from './reconstruction.ts';
import { ABLATION_DIR, AE_CPU_MINUTES, LDM_CPU_MINUTES, VARIANTS, variantByName, type VariantName } from './variants.ts';

export const REPORT_MD = 'docs/f-ablation.md';
export const REPORT_SVG = 'docs/f-ablation.svg';
export const REPORT_SAMPLES = 'docs/f-ablation-samples.png';
export const DISCUSSION_MARKER = '<!-- discussion: written by hand; the report generator keeps everything below this line -->';

const ORDER: readonly VariantName[] = VARIANTS.map((v) => v.name);
const COLOURS: Record<VariantName, string> = { f1: '#d62728', f2: '#ff7f0e', f4: '#2ca02c', f8: '#1f77b4', 'f4-vq': '#9467bd' };
const LABELS: Record<VariantName, string> = { f1: 'f=1 (pixels)', f2: 'f=2 KL', f4: 'f=4 KL', f8: 'f=8 KL', 'f4-vq': 'f=4 VQ' };

/** Every eval-<m>min.json under root/<variant>/, in variant order, then by CPU-minutes. */
export function readAblationEvals(root = ABLATION_DIR): AblationEval[] {
  const out: AblationEval[] = [];
  for (const name of ORDER) {
    const dir = path.join(root, name);
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) {
      if (!/^eval-[\d.]+min\.json$/.test(f)) continue;
      const r = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as AblationEval;
      if (r.format !== 'ldm-studio-ablation-eval/1') throw new Error(`${path.join(dir, f)} is not an ablation evaluation (format '${String(r.format)}'); rerun --stage ablation-eval`);
      out.push(r);
    }
  }
  return out.sort((a, b) => ORDER.indexOf(a.variant) - ORDER.indexOf(b.variant) || a.cpuMinutes - b.cpuMinutes);
}

/** Each variant's first-stage floor (reconstruction.ts), where measured. */
export function readReconstructions(root = ABLATION_DIR): Map<VariantName, ReconstructionEval> {
  const out = new Map<VariantName, ReconstructionEval>();
  for (const v of VARIANTS) {
    const f = reconstructionFile(v, root);
    if (v.autoencoder && existsSync(f)) out.set(v.name, JSON.parse(readFileSync(f, 'utf8')) as ReconstructionEval);
  }
  return out;
}

function floorTable(evals: readonly AblationEval[], floors: ReadonlyMap<VariantName, ReconstructionEval>): string {
  if (floors.size === 0) return '';
  const rows = ORDER.flatMap((name) => {
    const f = floors.get(name);
    if (!f) return [];
    const psnr = evals.find((r) => r.variant === name)?.autoencoder?.psnr;
    const m = f.metrics;
    return [`| ${LABELS[name]} | ${fmt(psnr, 2)} | ${fmt(m.fid, 2)} | ${fmt(m.kid * 1e3, 2)} | ${fmt(m.precision, 3)} | ${fmt(m.recall, 3)} | ${m.promptFidelity ? (m.promptFidelity.accuracy * 100).toFixed(1) + '%' : '—'} |`];
  });
  return `
The first stage's floor: the ${floors.values().next().value!.metrics.n} held-out emoji themselves, encoded and decoded by each autoencoder
(\`--stage ablation-reconstruction\`), measured against the originals in the same way. Every sample of an LDM is a decoded latent, so it is not
expected to score better than its autoencoder's floor (dashed lines in the plot); pixel space has none.

| variant | autoencoder PSNR (dB) | reconstruction FID | KID×10³ | precision | recall | classifier accuracy |
|---|---|---|---|---|---|---|
${rows.join('\n')}
`;
}

/** Repeats of a row with other seeds (eval-<m>min-seed<S>.json): how far FID and KID move by sampling noise alone. */
export function readAblationRepeats(root = ABLATION_DIR): AblationEval[] {
  const out: AblationEval[] = [];
  for (const name of ORDER) {
    const dir = path.join(root, name);
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) if (/^eval-[\d.]+min-seed\d+\.json$/.test(f)) out.push(JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as AblationEval);
  }
  return out.sort((a, b) => ORDER.indexOf(a.variant) - ORDER.indexOf(b.variant) || a.cpuMinutes - b.cpuMinutes || a.sampling.seed - b.sampling.seed);
}

function noiseSection(evals: readonly AblationEval[], repeats: readonly AblationEval[]): string {
  const lines = repeats.flatMap((r) => {
    const main = evals.find((e) => e.variant === r.variant && e.cpuMinutes === r.cpuMinutes);
    if (!main) return [];
    const m = r.metrics;
    const b = main.metrics;
    return [`- ${LABELS[r.variant]} at ${r.cpuMinutes} CPU-min, seeds ${r.sampling.seed}+i instead of ${main.sampling.seed}+i (same snapshot, prompts and n): FID ${fmt(m.fid, 2)} vs ${fmt(b.fid, 2)}, KID×10³ ${fmt(m.kid * 1e3, 2)} vs ${fmt(b.kid * 1e3, 2)}, precision ${fmt(m.precision, 3)} vs ${fmt(b.precision, 3)}, recall ${fmt(m.recall, 3)} vs ${fmt(b.recall, 3)}.`];
  });
  return lines.length ? `\nSampling noise (the same row drawn again with other seeds):\n${lines.join('\n')}\n` : '';
}

const fmt = (v: number | null | undefined, digits: number): string => (v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits));
const minutes = (s: number | null | undefined): string => (s === null || s === undefined ? '—' : (s / 60).toFixed(1));

export function evalCommand(r: AblationEval): string {
  const s = r.sampling;
  return `nice -n 5 npm run train:default -- --stage ablation-eval --variant ${r.variant} --at ${r.cpuMinutes} --n ${s.n} --seed ${s.seed} --batch ${s.batch}`;
}

export function trainingCommands(variant: VariantName): string[] {
  const ae = variant === 'f1' ? [] : [`npm run train:default -- --stage ablation-autoencoder --variant ${variant}`];
  return [...ae, `npm run train:default -- --stage ablation-ldm --variant ${variant}`];
}

/** The equal budget every variant reached, and which were continued beyond it (to LDM_CPU_MINUTES). */
function budgetText(evals: readonly AblationEval[]): string {
  const names = [...new Set(evals.map((e) => e.variant))];
  const reached = (name: VariantName): number => Math.max(...evals.filter((e) => e.variant === name).map((e) => e.cpuMinutes));
  const common = names.length ? Math.min(...names.map(reached)) : LDM_CPU_MINUTES;
  const longer = names.filter((n) => reached(n) > common);
  if (!longer.length) return `${common} CPU-minutes each`;
  const labels = longer.map((n) => LABELS[n]);
  const list = labels.length > 1 ? `${labels.slice(0, -1).join(', ')} and ${labels.at(-1)}` : labels[0];
  return `${common} CPU-minutes each, and ${list} continued to ${Math.max(...longer.map(reached))}`;
}

function table(evals: readonly AblationEval[]): string {
  const head = '| variant | latent | autoencoder PSNR (dB) | autoencoder CPU-min | LDM CPU-min | LDM steps | FID ↓ | KID×10³ ↓ | precision ↑ | recall ↑ | prompt fidelity ↑ | sampling s |';
  const rule = '|---|---|---|---|---|---|---|---|---|---|---|---|';
  const rows = evals.map((r) => {
    const m = r.metrics;
    const latent = r.autoencoder ? `${r.latent.size}×${r.latent.size}×${r.latent.channels}` : '32×32×3 (pixels)';
    const pf = m.promptFidelity ? `${(m.promptFidelity.accuracy * 100).toFixed(1)}%` : '—';
    return `| ${LABELS[r.variant]} | ${latent} | ${fmt(r.autoencoder?.psnr, 2)} | ${minutes(r.autoencoder?.cpuSeconds)} | ${r.cpuMinutes} | ${r.snapshot.steps} | ${fmt(m.fid, 2)} | ${fmt(m.kid * 1e3, 2)} | ${fmt(m.precision, 3)} | ${fmt(m.recall, 3)} | ${pf} | ${r.sampling.seconds.toFixed(0)} |`;
  });
  return [head, rule, ...rows].join('\n');
}

/** Per snapshot time, the variants ranked by FID and by KID (best first). */
function rankings(evals: readonly AblationEval[]): string {
  const times = [...new Set(evals.map((r) => r.cpuMinutes))].sort((a, b) => a - b);
  return times
    .map((t) => {
      const at = evals.filter((r) => r.cpuMinutes === t);
      const by = (key: (r: AblationEval) => number, scale: number, digits: number) =>
        [...at].sort((a, b) => key(a) - key(b)).map((r) => `${r.variant} ${(key(r) * scale).toFixed(digits)}`).join(' < ');
      return `- at ${t} CPU-min: FID ${by((r) => r.metrics.fid, 1, 2)}; KID×10³ ${by((r) => r.metrics.kid, 1e3, 2)}`;
    })
    .join('\n');
}

function commands(evals: readonly AblationEval[], repeats: readonly AblationEval[] = [], floors = false): string {
  const blocks = ORDER.filter((v) => evals.some((r) => r.variant === v)).map((v) => {
    const lines = [`# ${LABELS[v]}: training (resumable; the LDM writes its snapshots as its CPU time passes them)`, ...trainingCommands(v), '# evaluation, one line per row'];
    for (const r of evals.filter((x) => x.variant === v)) lines.push(evalCommand(r));
    return lines.join('\n');
  });
  if (repeats.length) blocks.push(['# the seed repeats (sampling noise)', ...repeats.map(evalCommand)].join('\n'));
  if (floors) blocks.push("# each autoencoder's floor\nnice -n 5 npm run train:default -- --stage ablation-reconstruction");
  return '```sh\n' + blocks.join('\n\n') + '\n```';
}

/** The variants whose latest snapshot's grid is in the samples picture, top to bottom. */
function samplesSection(evals: readonly AblationEval[], strip: StripRows | null, pngName: string): string {
  if (!strip || strip.rows.length === 0) return '';
  const first = strip.rows[0]!;
  return `## Samples
![The first ten samples of each variant's latest snapshot](${pngName})

Rows, top to bottom: ${strip.rows.map((r) => `${LABELS[r.variant]} at ${r.cpuMinutes} CPU-min`).join('; ')}. Columns: samples 0–9 of
the evaluation (seeds ${first.sampling.seed}–${first.sampling.seed + 9}), drawn for the held-out captions ${first.firstPrompts.map((p) => `"${p}"`).join(', ')}; shown at 2×.
`;
}

export function fAblationMarkdown(evals: readonly AblationEval[], svgName = path.basename(REPORT_SVG), keep = '', strip: StripRows | null = null, pngName = path.basename(REPORT_SAMPLES), repeats: readonly AblationEval[] = [], floors: ReadonlyMap<VariantName, ReconstructionEval> = new Map()): string {
  const first = evals[0];
  const s = first?.sampling;
  const m = first?.metrics;
  const setup = first
    ? `Every row: ${s!.n} samples (sample i: held-out caption i mod ${m!.reference}, seed ${s!.seed} + i), ${s!.sampler.toUpperCase()} ${s!.steps} steps, classifier-free guidance ${s!.guidance}; FID, KID (clean-fid's estimator, subsets of ${Math.min(s!.n, m!.reference)}), precision/recall (k = 3) in the ${m!.featureDim}-dimensional penultimate features of the shipped emoji classifier (resources/models/emoji-classifier) against the ${m!.reference} held-out emoji; prompt fidelity is the classifier's top-1 accuracy on the samples (${((m!.referenceAccuracy) * 100).toFixed(1)}% on the real held-out pictures, its ceiling). Sampling ran ${s!.batch} pictures per UNet call on ${s!.threads} onnxruntime thread(s) at nice 5 on the shared 2-core machine, so its seconds are inflated by the load.`
    : 'No evaluations yet: run the commands below.';
  return `# The downsampling factor f at emoji scale (the paper's Fig. 6)

Text-to-image LDMs trained by this project on the embedded model's data (Noto emoji at 32×32, the same
captions, held-out split, recipe and seeds as emoji-ldm-32), differing only in the first stage: pixel
space (f=1), KL autoencoders with f = 2, 4, 8, and a VQ autoencoder at f=4. Each autoencoder trained for
${AE_CPU_MINUTES} CPU-minutes from scratch; each LDM (the embedded UNet and text encoder, UNet channels set to the
latent's) for the same CPU time, ${budgetText(evals)} (user + system time of its process, so the machine's load
does not change the budget), with EMA snapshots on the way. Code: scripts/ablation/ (variants.ts, train.ts,
evaluate.ts, report.ts).

${setup}

![FID and KID×10³ against the LDM's training CPU-minutes, one line per variant](${svgName})

${table(evals)}

Ranking (lower is better):
${rankings(evals)}
${noiseSection(evals, repeats)}${floorTable(evals, floors)}
${samplesSection(evals, strip, pngName)}
## Reproduce
${commands(evals, repeats, floors.size > 0)}

Then \`npm run train:default -- --stage ablation-report\` rewrites this page and the plot from the evaluations.

${DISCUSSION_MARKER}
${keep || '\n## Discussion\n\n(not written yet)\n'}`;
}

/** 1, 2, 5 × 10^k from 10^lo to 10^hi. */
function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let k = lo; k <= hi; k++) for (const m of [1, 2, 5]) if (k < hi || m === 1) out.push(+(m * 10 ** k).toPrecision(6));
  return out;
}

/** Nice round tick values covering [0, max]. */
function ticks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((k) => k * mag).find((k) => k >= raw)!;
  const out: number[] = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  if (out[out.length - 1]! < max) out.push(+(out[out.length - 1]! + step).toPrecision(12));
  return out;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

interface Panel {
  title: string;
  value: (r: AblationEval) => number;
  /** The variant's first-stage floor on this metric (a dashed line). */
  floor: (f: ReconstructionEval) => number;
}

/** Two panels, FID and KID×10³ against LDM CPU-minutes, one polyline (with dots) per variant, and a legend. */
export function fAblationSvg(evals: readonly AblationEval[], floors: ReadonlyMap<VariantName, ReconstructionEval> = new Map()): string {
  const panels: Panel[] = [
    { title: 'FID ↓', value: (r) => r.metrics.fid, floor: (f) => f.metrics.fid },
    { title: 'KID×10³ ↓', value: (r) => r.metrics.kid * 1e3, floor: (f) => f.metrics.kid * 1e3 },
  ];
  const W = 360;
  const H = 260;
  const pad = { l: 48, r: 12, t: 28, b: 40 };
  const legendH = 44;
  const xMax = Math.max(LDM_CPU_MINUTES, ...evals.map((r) => r.cpuMinutes));
  const xt = ticks(xMax);
  const parts: string[] = [];
  panels.forEach((p, k) => {
    const ox = k * W;
    const floorValues = [...floors].filter(([n]) => evals.some((r) => r.variant === n)).map(([, f]) => p.floor(f));
    // logarithmic: pixel space sits an order of magnitude above the latent models
    const positive = [...evals.map(p.value), ...floorValues].filter((v) => Number.isFinite(v) && v > 0);
    const lo = Math.floor(Math.log10(Math.min(...positive, 10)));
    const hi = Math.ceil(Math.log10(Math.max(...positive, 10 ** (lo + 1))));
    const yt = logTicks(lo, hi);
    const X = (v: number) => ox + pad.l + (v / xt[xt.length - 1]!) * (W - pad.l - pad.r);
    const Y = (v: number) => pad.t + (1 - (Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * (H - pad.t - pad.b);
    parts.push(`<g class="panel" data-metric="${k === 0 ? 'fid' : 'kid'}">`);
    parts.push(`<text x="${ox + W / 2}" y="16" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`);
    for (const v of yt) parts.push(`<line x1="${X(0)}" x2="${X(xt[xt.length - 1]!)}" y1="${Y(v)}" y2="${Y(v)}" stroke="#ddd"/><text x="${X(0) - 4}" y="${Y(v) + 4}" text-anchor="end">${v}</text>`);
    for (const v of xt) parts.push(`<text x="${X(v)}" y="${H - pad.b + 16}" text-anchor="middle">${v}</text>`);
    parts.push(`<line x1="${X(0)}" x2="${X(0)}" y1="${Y(10 ** lo)}" y2="${Y(10 ** hi)}" stroke="#333"/><line x1="${X(0)}" x2="${X(xt[xt.length - 1]!)}" y1="${Y(10 ** lo)}" y2="${Y(10 ** lo)}" stroke="#333"/>`);
    parts.push(`<text x="${ox + pad.l + (W - pad.l - pad.r) / 2}" y="${H - 6}" text-anchor="middle">LDM training CPU-minutes</text>`);
    for (const name of ORDER) {
      const f = floors.get(name);
      if (f && evals.some((r) => r.variant === name)) {
        const y = Y(p.floor(f)).toFixed(1); // a floor ≤ 0 (KID is unbiased) is drawn on the axis
        parts.push(`<line data-floor="${name}" x1="${X(0)}" x2="${X(xt[xt.length - 1]!)}" y1="${y}" y2="${y}" stroke="${COLOURS[name]}" stroke-dasharray="4 3" stroke-width="1"/>`);
      }
      const pts = evals.filter((r) => r.variant === name && Number.isFinite(p.value(r))).sort((a, b) => a.cpuMinutes - b.cpuMinutes);
      if (pts.length === 0) continue;
      const xy = pts.map((r) => `${X(r.cpuMinutes).toFixed(1)},${Y(p.value(r)).toFixed(1)}`);
      parts.push(`<polyline data-variant="${name}" points="${xy.join(' ')}" fill="none" stroke="${COLOURS[name]}" stroke-width="2"/>`);
      for (const q of xy) {
        const [x, y] = q.split(',');
        parts.push(`<circle cx="${x}" cy="${y}" r="3" fill="${COLOURS[name]}"/>`);
      }
    }
    parts.push('</g>');
  });
  const shown = ORDER.filter((n) => evals.some((r) => r.variant === n));
  shown.forEach((name, i) => {
    const x = 20 + i * 130;
    const y = H + 14;
    parts.push(`<line x1="${x}" x2="${x + 24}" y1="${y}" y2="${y}" stroke="${COLOURS[name]}" stroke-width="3"/><text x="${x + 30}" y="${y + 4}">${esc(LABELS[name])}</text>`);
  });
  if (floors.size > 0) parts.push(`<text x="20" y="${H + 38}" fill="#555">dashed: each autoencoder's floor (its reconstructions of the held-out emoji); logarithmic axes</text>`);
  const w = W * panels.length;
  const h = H + legendH;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="#fff"/>
${parts.join('\n')}
</svg>
`;
}

export interface StripRows {
  rows: AblationEval[];
}

/** The first row (samples 0–9) of each variant's latest evaluation grid, stacked; variants without a grid are left out. */
export async function writeSamplesStrip(evals: readonly AblationEval[], root: string, file: string): Promise<StripRows> {
  const rows: AblationEval[] = [];
  const pieces: Buffer[] = [];
  let width = 0;
  let rowH = 0;
  for (const name of ORDER) {
    const latest = evals.filter((r) => r.variant === name).sort((a, b) => b.cpuMinutes - a.cpuMinutes)[0];
    if (!latest) continue;
    const grid = evalGridFile(variantByName(name), latest.cpuMinutes, root);
    if (!existsSync(grid)) continue;
    const meta = await sharp(grid).metadata();
    width = meta.width!;
    rowH = width / 10; // the grid has 10 columns of square cells
    pieces.push(await sharp(grid).extract({ left: 0, top: 0, width, height: rowH }).removeAlpha().raw().toBuffer());
    rows.push(latest);
  }
  if (rows.length > 0) {
    await sharp(Buffer.concat(pieces), { raw: { width, height: rowH * rows.length, channels: 3 } }).png().toFile(file);
  }
  return { rows };
}

/** Reads the evaluations and writes the page, the plot and the samples picture; keeps the hand-written discussion of an existing page. */
export async function writeAblationReport(o: { root?: string; md?: string; svg?: string; samples?: string; log?: (s: string) => void } = {}): Promise<AblationEval[]> {
  const md = o.md ?? REPORT_MD;
  const svg = o.svg ?? REPORT_SVG;
  const samples = o.samples ?? REPORT_SAMPLES;
  const root = o.root ?? ABLATION_DIR;
  const evals = readAblationEvals(root);
  let keep = '';
  if (existsSync(md)) {
    const old = readFileSync(md, 'utf8');
    const at = old.indexOf(DISCUSSION_MARKER);
    if (at >= 0) keep = old.slice(at + DISCUSSION_MARKER.length + 1);
  }
  mkdirSync(path.dirname(md), { recursive: true });
  mkdirSync(path.dirname(svg), { recursive: true });
  mkdirSync(path.dirname(samples), { recursive: true });
  const floors = readReconstructions(root);
  writeFileSync(svg, fAblationSvg(evals, floors));
  const strip = await writeSamplesStrip(evals, root, samples);
  const rel = (f: string) => path.relative(path.dirname(md), f);
  writeFileSync(md, fAblationMarkdown(evals, rel(svg), keep, strip, rel(samples), readAblationRepeats(root), floors));
  (o.log ?? console.log)(`ablation-report: ${evals.length} evaluated snapshots → ${md}, ${svg}${strip.rows.length ? `, ${samples}` : ''}`);
  return evals;
}
