// scripts/check-dist-node.mjs, run first by `npm run dist`: on a Node older than 22.12 (what electron 45,
// @electron/get 5 and @electron/rebuild 4 require) it stops with one line saying so; on a newer one it passes.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

describe('npm run dist preflight', () => {
  it('runs before electron-builder', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.dist).toMatch(/^node scripts\/check-dist-node\.mjs && .*electron-builder$/);
  });

  it('answers for this Node: one line and exit 1 below 22.12, silence and exit 0 from it', () => {
    const r = spawnSync(process.execPath, ['scripts/check-dist-node.mjs'], { cwd: root, encoding: 'utf8' });
    const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
    if (major < 22 || (major === 22 && minor < 12)) {
      expect(r.status).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(`npm run dist needs Node 22.12 or newer (this is Node ${process.versions.node})`);
    } else {
      expect(r.status).toBe(0);
      expect(r.stderr).toBe('');
    }
    expect(r.stdout).toBe('');
  });
});
