// `ldm convert`: a real torch.save file to safetensors; a hostile one refused with the name of what it asked to run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from './helpers.ts';
import { loadSafetensors } from '../../electron/engine/io/safetensors.ts';

const FIXTURES = new URL('../fixtures/ckpt/', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'ldm-convert-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ldm convert', () => {
  it('writes the state dict of a Lightning .ckpt as safetensors, with its metadata and provenance', async () => {
    const out = join(dir, 'l.safetensors');
    const r = await cli('convert', join(FIXTURES, 'lightning.ckpt'), '--out', out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/15 tensors .* from 'state_dict' of lightning\.ckpt \(sha256 [0-9a-f]{12}…\)/);
    expect(r.stdout).toMatch(/metadata: .*global_step/);
    expect(r.stdout).toMatch(/left out optimizer_states \(training state\)/);
    const st = await loadSafetensors(out);
    expect(st.tensors.size).toBe(15);
    expect(st.metadata.converted_from).toBe('lightning.ckpt');
    expect(st.metadata.converted_from_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(st.metadata.global_step).toBe('470000');
  });

  it('refuses a checkpoint that asks to run code, naming the global, and writes nothing', async () => {
    const out = join(dir, 'evil.safetensors');
    const r = await cli('convert', join(FIXTURES, 'os-system.ckpt'), '--out', out);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ldm: .*refused: the file asks to run `posix\.system`/);
    await expect(loadSafetensors(out)).rejects.toThrow();
  });

  it('usage errors: no input, a non-safetensors output', async () => {
    expect((await cli('convert')).code).toBe(2);
    expect((await cli('convert', join(FIXTURES, 'basic.ckpt'), '--out', join(dir, 'x.bin'))).stderr).toMatch(/must be a \.safetensors/);
  });
});
