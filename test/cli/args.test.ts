import { describe, expect, it } from 'vitest';
import { parseCommandLine, UsageError, type FlagSpecs } from '../../electron/cli/args.ts';
import { ProgressBar, renderBar } from '../../electron/cli/progress.ts';

const specs: FlagSpecs = {
  seed: { type: 'int', help: 'seed' },
  cfg: { type: 'number', help: 'guidance' },
  size: { type: 'size', help: 'size' },
  out: { type: 'string', help: 'file', short: 'o' },
  quiet: { type: 'boolean', help: 'quiet' },
};

describe('ldm argument parsing', () => {
  it('converts typed flags and keeps positionals', () => {
    const p = parseCommandLine(['a red heart', '--seed', '42', '--cfg=7.5', '--size', '64x32', '-o', 'x.png', '--quiet'], specs);
    expect(p.positionals).toEqual(['a red heart']);
    expect(p.flags).toEqual({ seed: 42, cfg: 7.5, size: { width: 64, height: 32 }, out: 'x.png', quiet: true });
    expect(parseCommandLine(['--size', '48'], specs).flags.size).toEqual({ width: 48, height: 48 });
  });

  it('rejects bad values and unknown flags with a usage error naming the flag', () => {
    expect(() => parseCommandLine(['--seed', '1.5'], specs)).toThrow(/--seed must be a whole number/);
    expect(() => parseCommandLine(['--cfg', 'lots'], specs)).toThrow(/--cfg must be a number/);
    expect(() => parseCommandLine(['--size', '64by64'], specs)).toThrow(/--size must be WIDTHxHEIGHT/);
    expect(() => parseCommandLine(['--colour', 'red'], specs)).toThrow(UsageError);
    expect(() => parseCommandLine(['--colour', 'red'], specs)).toThrow(/colour/);
  });
});

describe('progress bar', () => {
  const ev = { image: 1, images: 2, step: 5, steps: 10, done: 15, total: 20, preview: null };

  it('renders the batch position, counts and a bar proportional to the work done', () => {
    const s = renderBar(ev, 2, 80);
    expect(s).toMatch(/^image 2\/2 \[#+\.+\] 5\/10 2\.00 it\/s eta 3s$/);
    const bar = /\[(.*)\]/.exec(s)![1]!;
    expect(bar.split('#').length - 1).toBe(Math.round(0.75 * bar.length));
  });

  it('measures the rate from the first step, not from when the bar was made', () => {
    let now = 0;
    const lines: string[] = [];
    const bar = new ProgressBar({ write: (s: string) => lines.push(s) }, () => now);
    now = 60_000; // a minute of model loading
    bar.update({ ...ev, image: 0, images: 1, step: 1, steps: 3, done: 1, total: 3 });
    now = 61_000;
    bar.update({ ...ev, image: 0, images: 1, step: 3, steps: 3, done: 3, total: 3 });
    expect(lines).toEqual(['image 1/1: 3 steps, 3/3 done, 2.00 it/s\n']);
  });

  it('redraws in place on a terminal and prints one line per image elsewhere', () => {
    const tty: string[] = [];
    const t = new ProgressBar({ isTTY: true, columns: 60, write: (s: string) => tty.push(s) });
    t.update(ev);
    t.finish();
    expect(tty[0]!.startsWith('\r')).toBe(true);
    expect(tty.at(-1)).toBe('\n');
    const log: string[] = [];
    const l = new ProgressBar({ write: (s: string) => log.push(s) });
    l.update(ev);
    l.update({ ...ev, step: 10, done: 20 });
    expect(log).toHaveLength(1);
    expect(log[0]).toMatch(/^image 2\/2: 10 steps, 20\/20 done/);
  });
});
