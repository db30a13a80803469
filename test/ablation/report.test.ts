// The f-ablation report (scripts/ablation/report.ts) from evaluation files on disk: rows in variant and
// CPU-minute order with their figures and reproducing commands, one polyline per variant with its points
// in CPU-minute order, and the hand-written discussion kept when the page is rewritten.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { writeGrid, type AblationEval } from '../../scripts/ablation/evaluate.ts';
import { DISCUSSION_MARKER, writeAblationReport } from '../../scripts/ablation/report.ts';

/** A row of the main table (its second column is the latent's shape). */
const MAIN_ROW = /^\| f=[^|]+\| (\d+×\d+×\d+|32×32×3 \(pixels\)) \|/;

const tmp = mkdtempSync(path.join(os.tmpdir(), 'f-ablation-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function record(variant: 'f1' | 'f4', cpuMinutes: number, fid: number, kid: number, steps: number): AblationEval {
  return {
    format: 'ldm-studio-ablation-eval/1',
    variant,
    factor: variant === 'f1' ? 1 : 4,
    autoencoderKind: variant === 'f1' ? 'pixel' : 'kl',
    latent: variant === 'f1' ? { channels: 3, size: 32 } : { channels: 4, size: 8 },
    scaleFactor: variant === 'f1' ? 1 : 0.9,
    cpuMinutes,
    snapshot: { steps, cpuSeconds: cpuMinutes * 60 },
    autoencoder: variant === 'f1' ? null : { psnr: 24.5, cpuSeconds: 360, steps: 900 },
    sampling: { n: 225, seed: 0, sampler: 'ddim', steps: 20, guidance: 3, batch: 25, threads: 1, seconds: 70 },
    firstPrompts: Array.from({ length: 10 }, (_, i) => `caption ${i}`),
    metrics: { n: 225, reference: 225, featureDim: 128, fid, kid, precision: 0.5, recall: 0.25, promptFidelity: { correct: 50, total: 250, accuracy: 0.2 }, referenceAccuracy: 0.6, metricSeconds: 1 },
    evaluatedAt: '2026-11-30T14:00:00Z',
  };
}

function save(r: AblationEval, root: string): void {
  mkdirSync(path.join(root, r.variant), { recursive: true });
  writeFileSync(path.join(root, r.variant, `eval-${r.cpuMinutes}min.json`), JSON.stringify(r));
}

describe('f-ablation report', () => {
  const root = path.join(tmp, 'ablation');
  const md = path.join(tmp, 'docs', 'f-ablation.md');
  const svg = path.join(tmp, 'docs', 'f-ablation.svg');
  const samples = path.join(tmp, 'docs', 'f-ablation-samples.png');
  // written out of order on purpose: f4 before f1, 10 min before 2.5
  save(record('f4', 10, 20.5, 0.0123, 3000), root);
  save(record('f4', 2.5, 40.25, 0.0456, 800), root);
  save(record('f1', 2.5, 90, 0.2, 120), root);

  it('tabulates every evaluation in variant, then CPU-minute order, with the commands that reproduce it', async () => {
    await writeAblationReport({ root, md, svg, samples, log: () => {} });
    const text = readFileSync(md, 'utf8');
    const rows = text.split('\n').filter((l) => MAIN_ROW.test(l));
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatch(/^\| f=1 \(pixels\) \| 32×32×3 \(pixels\) \| — \| — \| 2\.5 \| 120 \| 90\.00 \| 200\.00 \|/);
    expect(rows[1]).toMatch(/^\| f=4 KL \| 8×8×4 \| 24\.50 \| 6\.0 \| 2\.5 \| 800 \| 40\.25 \| 45\.60 \| 0\.500 \| 0\.250 \| 20\.0% \|/);
    expect(rows[2]).toMatch(/^\| f=4 KL \| 8×8×4 \| 24\.50 \| 6\.0 \| 10 \| 3000 \| 20\.50 \| 12\.30 \|/);
    expect(text).toContain('nice -n 5 npm run train:default -- --stage ablation-eval --variant f4 --at 2.5 --n 225 --seed 0 --batch 25');
    expect(text).toContain('npm run train:default -- --stage ablation-autoencoder --variant f4');
    expect(text).not.toContain('--stage ablation-autoencoder --variant f1');
    expect(text).toContain('- at 2.5 CPU-min: FID f4 40.25 < f1 90.00; KID×10³ f4 45.60 < f1 200.00');
    expect(text).toContain('](f-ablation.svg)');
    // f1 stopped at 2.5 CPU-minutes, f4 went on: the page says which budget all share and who went past it
    expect(text).toContain('for the same CPU time, 2.5 CPU-minutes each, and f=4 KL continued to 10 (');
  });

  it('draws one polyline per variant and metric, its points left to right in CPU-minutes, lower values higher up', () => {
    const text = readFileSync(svg, 'utf8');
    expect(text.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    const lines = [...text.matchAll(/<polyline data-variant="([^"]+)" points="([^"]+)"/g)].map((m) => ({ variant: m[1]!, pts: m[2]!.split(' ').map((p) => p.split(',').map(Number) as [number, number]) }));
    expect(lines.map((l) => l.variant)).toEqual(['f1', 'f4', 'f1', 'f4']); // FID panel, then KID panel
    const f4 = lines[1]!.pts;
    expect(f4).toHaveLength(2);
    expect(f4[0]![0]).toBeLessThan(f4[1]![0]); // 2.5 min left of 10 min
    expect(f4[0]![1]).toBeLessThan(f4[1]![1]); // FID 40 drawn above FID 20.5 (SVG y grows downwards)
    expect(lines[0]!.pts[0]![1]).toBeLessThan(f4[0]![1]); // f1's FID 90 above f4's 40
    expect(lines[0]!.pts[0]![0]).toBe(f4[0]![0]); // same CPU-minutes, same x
    expect(lines[2]!.pts[0]![0]).toBeGreaterThan(lines[0]!.pts[0]![0]); // KID panel to the right
  });

  it('stacks the first row of each variant\'s latest sample grid into one picture', async () => {
    // f4's latest evaluation (10 min) has a grid of 20 pictures: sample k is grey level 10·k
    const pics = Array.from({ length: 20 }, (_, k) => ({ width: 32, height: 32, data: new Uint8Array(32 * 32 * 3).fill(10 * k) }));
    await writeGrid(pics, 10, path.join(root, 'f4', 'eval-10min.png'));
    await writeAblationReport({ root, md, svg, samples, log: () => {} });
    const { data, info } = await sharp(samples).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([640, 64]); // one row (f1 has no grid), ten 64-pixel cells
    expect([0, 3, 9].map((k) => data[(10 * info.width + k * 64 + 5) * info.channels])).toEqual([0, 30, 90]);
    expect(readFileSync(md, 'utf8')).toContain('Rows, top to bottom: f=4 KL at 10 CPU-min.');
  });

  it('reports a repeat of a row with other seeds beside that row, not as a row of its own', async () => {
    const again = { ...record('f4', 10, 22, 0.0111, 3000), sampling: { ...record('f4', 10, 0, 0, 0).sampling, seed: 1000 } };
    writeFileSync(path.join(root, 'f4', 'eval-10min-seed1000.json'), JSON.stringify(again));
    await writeAblationReport({ root, md, svg, samples, log: () => {} });
    const text = readFileSync(md, 'utf8');
    expect(text.split('\n').filter((l) => MAIN_ROW.test(l))).toHaveLength(3);
    expect(text).toContain('- f=4 KL at 10 CPU-min, seeds 1000+i instead of 0+i (same snapshot, prompts and n): FID 22.00 vs 20.50, KID×10³ 11.10 vs 12.30');
  });

  it('draws and tabulates an autoencoder\'s floor (its reconstructions\' FID/KID) where one was measured', async () => {
    const metrics = { ...record('f4', 4, 5.5, 0.0194, 0).metrics };
    writeFileSync(path.join(root, 'f4', 'reconstruction.json'), JSON.stringify({ variant: 'f4', autoencoderSteps: 1130, metrics }));
    await writeAblationReport({ root, md, svg, samples, log: () => {} });
    expect(readFileSync(md, 'utf8')).toContain('| f=4 KL | 24.50 | 5.50 | 19.40 | 0.500 | 0.250 | 20.0% |');
    const text = readFileSync(svg, 'utf8');
    const floors = [...text.matchAll(/<line data-floor="([^"]+)"[^>]* y1="([\d.]+)"/g)];
    expect(floors.map((m) => m[1])).toEqual(['f4', 'f4']); // FID and KID panels; f1 has none
    const f4 = [...text.matchAll(/<polyline data-variant="f4" points="([^"]+)"/g)][0]![1]!.split(' ').map((q) => Number(q.split(',')[1]));
    expect(Number(floors[0]![2])).toBeGreaterThan(Math.max(...f4)); // FID 5.5 drawn below both f4 points (20.5, 40.25)
  });

  it('keeps the hand-written discussion when the page is rewritten with more rows', async () => {
    const text = readFileSync(md, 'utf8');
    writeFileSync(md, text.slice(0, text.indexOf(DISCUSSION_MARKER) + DISCUSSION_MARKER.length) + '\n## Discussion\n\nOurs, by hand.\n');
    save(record('f1', 10, 60, 0.1, 500), root);
    await writeAblationReport({ root, md, svg, samples, log: () => {} });
    const again = readFileSync(md, 'utf8');
    expect(again.split('\n').filter((l) => MAIN_ROW.test(l))).toHaveLength(4);
    expect(again.endsWith('\n## Discussion\n\nOurs, by hand.\n')).toBe(true);
    expect(again.match(/## Discussion/g)).toHaveLength(1);
  });
});
