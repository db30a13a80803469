// A folder's state as the user would see it: every entry (recursively, hidden ones too) with its size,
// modification time and content hash, so a test can assert that running something left it untouched.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';

export function folderState(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = statSync(p);
      const rel = path.relative(dir, p);
      if (st.isDirectory()) {
        out.push(`${rel}/ ${st.mtimeMs}`);
        walk(p);
      } else {
        out.push(`${rel} ${st.size} ${st.mtimeMs} ${createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16)}`);
      }
    }
  };
  walk(dir);
  return out;
}
