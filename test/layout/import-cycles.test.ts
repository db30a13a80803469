// The layout stays a tree: no two modules of electron/ (or of the renderer) import each other, directly
// or round a longer loop. A cycle makes load order decide whether an import is still undefined, and
// says that something both modules need belongs lower down (a shared type or helper in its own module).
// Value imports count; `import type` is erased at build time and dynamic `import()` loads lazily.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function sourceFiles(dir: string, ending: RegExp): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && ending.test(e.name))
    .map((e) => join(e.parentPath, e.name));
}

/** `import … from './x.ts'`, `import './x.ts'` and `export … from './x.ts'`, but not `import type` / `export type`. */
const STATIC_IMPORT = /(?:^|\n)[ \t]*(?:import|export)(?!\s+type\s)\s+(?:[^;'"]*?\bfrom\s+)?['"](\.{1,2}\/[^'"]+)['"]/g;

function importGraph(files: readonly string[]): Map<string, string[]> {
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const source = file.endsWith('.svelte') ? [...text.matchAll(/<script[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1]).join('\n') : text;
    const deps = [...source.matchAll(STATIC_IMPORT)].map((m) => resolve(dirname(file), m[1]!));
    graph.set(file, deps.filter((d) => known.has(d)));
  }
  return graph;
}

/** Every strongly connected group of two or more modules (Tarjan), each as its sorted file names. */
function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      group.push(w);
    } while (w !== v);
    if (group.length > 1) found.push(group.map((f) => relative(ROOT, f)).sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('imports', () => {
  it('finds a cycle when there is one (the checker itself)', () => {
    const at = (name: string) => join(ROOT, name);
    expect(cycles(new Map([[at('a'), [at('b')]], [at('b'), [at('c')]], [at('c'), [at('a')]], [at('d'), [at('a')]]]))).toEqual([['a', 'b', 'c']]);
    const text = "import {\n  a,\n  aa,\n} from './a.ts';\nimport type { B } from './b.ts';\nexport { c } from '../c.ts';\nimport './d.ts';\nexport type { E } from './e.ts';\nconst f = await import('./f.ts');";
    expect([...text.matchAll(STATIC_IMPORT)].map((m) => m[1])).toEqual(['./a.ts', '../c.ts', './d.ts']);
  });

  it('form no cycle in electron/', () => {
    const files = sourceFiles(join(ROOT, 'electron'), /\.ts$/);
    expect(files.length).toBeGreaterThan(100);
    expect(cycles(importGraph(files))).toEqual([]);
  });

  it('form no cycle in the renderer', () => {
    const files = sourceFiles(join(ROOT, 'renderer/src'), /\.(ts|svelte)$/);
    expect(files.length).toBeGreaterThan(20);
    expect(cycles(importGraph(files))).toEqual([]);
  });
});
