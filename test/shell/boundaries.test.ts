// The house rules that keep the transports thin and the renderer sandbox-safe (DESIGN.md, CONTRIBUTING.md).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

function sources(dir: string): string[] {
  return readdirSync(path.join(root, dir), { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && /\.(ts|mts|svelte)$/.test(d.name))
    .map((d) => path.relative(root, path.join(d.parentPath, d.name)));
}

const importsOf = (file: string) =>
  [...readFileSync(path.join(root, file), 'utf8').matchAll(/^\s*import\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => ({ typeOnly: !!m[1], spec: m[2]! }));

it("only electron/shell imports 'electron'", () => {
  const offenders = sources('electron')
    .filter((f) => !f.startsWith(`electron${path.sep}shell${path.sep}`))
    .filter((f) => importsOf(f).some((i) => i.spec === 'electron' || i.spec.startsWith('electron/')));
  expect(offenders).toEqual([]);
});

it('the renderer takes only types from the Node side', () => {
  const offenders = sources('renderer/src').flatMap((f) =>
    importsOf(f)
      .filter((i) => i.spec.includes('/electron/') && !i.typeOnly)
      .map((i) => `${f}: ${i.spec}`),
  );
  expect(offenders).toEqual([]);
});

it('the transports never name a request', () => {
  const requestLiteral = /['"](system|history|gallery|jobs|models|training)\.[a-zA-Z]+['"]/;
  const offenders = [...sources('electron/web'), 'electron/shell/ipc.ts', 'electron/shell/preload.ts'].filter((f) => requestLiteral.test(readFileSync(path.join(root, f), 'utf8')));
  expect(offenders).toEqual([]);
});
