// The colour measure's hue math on synthetic pictures with a known hue: HSV conversion, the circular mean
// over saturated pixels (white, black and grey left out, the 0°/360° wrap), nearest colour word, scoring,
// and the prompt set (only colour–concept pairs the training captions never had).
import { describe, expect, it } from 'vitest';
import { COLOUR_CONCEPTS, colourPrompts, colourRows, nearestColour, readHue, REFERENCE_HUES, scoreReadings } from '../../../electron/engine/eval/colour.ts';
import { hueDistance, meanHue, pictureHue, rgbToHsv } from '../../../electron/engine/eval/hue.ts';
import type { RgbImage } from '../../../electron/engine/pipelines/image.ts';

/** A size×size picture: white, with the given pixels (index → RGB) painted. */
function picture(size: number, paint: (x: number, y: number) => [number, number, number] | null): RgbImage {
  const data = new Uint8Array(size * size * 3).fill(255);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const c = paint(x, y);
      if (c) data.set(c, (y * size + x) * 3);
    }
  return { width: size, height: size, data };
}

describe('rgbToHsv', () => {
  it('gives the hue of the primaries and secondaries, and saturation/value', () => {
    expect(rgbToHsv(255, 0, 0)).toEqual({ h: 0, s: 1, v: 1 });
    expect(rgbToHsv(0, 255, 0).h).toBe(120);
    expect(rgbToHsv(0, 0, 255).h).toBe(240);
    expect(rgbToHsv(255, 255, 0).h).toBe(60);
    expect(rgbToHsv(255, 0, 255).h).toBe(300);
    expect(rgbToHsv(255, 128, 0).h).toBeCloseTo(30.1, 1);
    const grey = rgbToHsv(128, 128, 128);
    expect(grey.s).toBe(0);
    expect(grey.v).toBeCloseTo(128 / 255, 6);
  });
});

describe('pictureHue', () => {
  it('reads the hue of a coloured disc on white, ignoring the background', () => {
    const disc = picture(32, (x, y) => ((x - 16) ** 2 + (y - 16) ** 2 < 100 ? [0, 0, 255] : null));
    const h = pictureHue(disc);
    expect(h.hue).toBeCloseTo(240, 6);
    expect(h.concentration).toBeCloseTo(1, 6);
    let inside = 0;
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) if ((x - 16) ** 2 + (y - 16) ** 2 < 100) inside++;
    expect(h.coloured).toBeCloseTo(inside / (32 * 32), 9);
  });

  it('takes the circular mean: red (0°) and magenta-red (340°) average to 350°, not 170°', () => {
    // hue 340: r=255, b=85 (h = 60·((g−b)/d mod 6) = 60·(−1/3 + 6) = 340)
    const half = picture(8, (x) => (x < 4 ? [255, 0, 0] : [255, 0, 85]));
    expect(half.data.length).toBe(8 * 8 * 3);
    expect(pictureHue(half).hue).toBeCloseTo(350, 4);
    expect(meanHue([10, 350])).toBeCloseTo(0, 6);
  });

  it('leaves out grey, black outlines and pale pixels; an achromatic picture has no hue', () => {
    const grey = picture(8, (x) => (x < 2 ? [0, 0, 0] : x < 5 ? [120, 120, 120] : [250, 235, 235]));
    expect(pictureHue(grey)).toEqual({ hue: null, coloured: 0, concentration: 0 });
    const outlined = picture(8, (x, y) => (x === 0 || y === 0 ? [0, 0, 0] : [0, 200, 0]));
    expect(pictureHue(outlined).hue).toBeCloseTo(120, 6);
    expect(pictureHue(outlined).coloured).toBeCloseTo(49 / 64, 6);
  });

  it('weighs hues by pixel count: 3 parts yellow (60°) to 1 part green (120°)', () => {
    const mix = picture(4, (x) => (x < 3 ? [255, 255, 0] : [0, 255, 0]));
    const want = (Math.atan2(3 * Math.sin(Math.PI / 3) + Math.sin((2 * Math.PI) / 3), 3 * Math.cos(Math.PI / 3) + Math.cos((2 * Math.PI) / 3)) * 180) / Math.PI;
    expect(pictureHue(mix).hue).toBeCloseTo(want, 6);
    expect(pictureHue(mix).concentration).toBeLessThan(1);
  });

  it('refuses a buffer of the wrong size', () => {
    expect(() => pictureHue({ width: 4, height: 4, data: new Uint8Array(10) })).toThrow(/4×4 RGB needs 48 bytes, got 10/);
  });
});

describe('colour words', () => {
  it('measures hue distance around the circle', () => {
    expect(hueDistance(350, 10)).toBe(20);
    expect(hueDistance(0, 180)).toBe(180);
    expect(hueDistance(200, 90)).toBe(110);
  });

  it('names the nearest reference hue, wrapping past 360°', () => {
    expect(nearestColour(240).word).toBe('blue');
    expect(nearestColour(359).word).toBe('red'); // 12.6° from red's 11.6°, 22.6° from pink's 336.4°
    expect(nearestColour(120).word).toBe('green');
    expect(nearestColour(REFERENCE_HUES.purple)).toEqual({ word: 'purple', error: 0 });
  });

  it('scores readings: accuracy counts a picture without hue as wrong, hue error leaves it out', () => {
    const rs = [readHue(210, 'blue'), readHue(90, 'blue'), readHue(null, 'blue')];
    expect(rs[0]).toMatchObject({ nearest: 'blue', correct: true });
    expect(rs[1]).toMatchObject({ nearest: 'green', correct: false });
    const s = scoreReadings(rs);
    expect(s.pictures).toBe(3);
    expect(s.accuracy).toBeCloseTo(1 / 3, 9);
    expect(s.noHue).toBe(1);
    expect(s.meanHueError).toBeCloseTo((hueDistance(210, REFERENCE_HUES.blue) + hueDistance(90, REFERENCE_HUES.blue)) / 2, 9);
    const rows = colourRows([{ prompt: 'blue apple, food fruit', colour: 'blue', kind: 'unseen pair', withWord: rs, withoutWord: [readHue(20, 'blue')] }]);
    expect(rows.map((r) => r.group)).toEqual(['blue', 'unseen pair', 'all']);
    expect(rows[2]!.withoutWord.accuracy).toBe(0);
  });

  it('prompts only pairs the training captions never had, with their colour-free baseline', () => {
    const ps = colourPrompts();
    const seen = COLOUR_CONCEPTS.flatMap((c) => c.seen.map((w) => c.template.replace('{c}', w)));
    expect(seen).toContain('red apple, food fruit');
    for (const s of seen) expect(ps.map((p) => p.prompt)).not.toContain(s);
    expect(ps.length).toBe(COLOUR_CONCEPTS.length * 7 - seen.length);
    expect(ps.find((p) => p.prompt === 'blue apple, food fruit')).toEqual({ prompt: 'blue apple, food fruit', baseline: 'apple, food fruit', colour: 'blue', kind: 'unseen pair' });
    expect(ps.filter((p) => p.kind === 'held-out concept').map((p) => p.prompt).sort()).toEqual(['green book, book paper', 'large green square, geometric', 'large yellow circle, geometric']);
    expect(ps.find((p) => p.prompt === 'large pink circle, geometric')?.baseline).toBe('large circle, geometric');
  });
});
