// The method registry is the one list: the contract's enum, the CLI's choices and the Train view's form
// all come from it, and every catalogued method has a module that behaves as its entry says.
import { describe, expect, it } from 'vitest';
import { trainSpec } from '../../../electron/api/jobs.ts';
import { FINETUNE_METHODS, METHOD_CATALOG, METHODS, finetuneMethod } from '../../../electron/engine/finetune/methods/index.ts';
import { FinetuneError } from '../../../electron/engine/finetune/errors.ts';
import type { ModelManifest } from '../../../electron/engine/io/model-package.ts';
import { systemInfo } from '../../../electron/services/system.ts';

const manifest = { name: 'tiny', tokenizer: { type: 'word', maxLength: 8, vocabulary: ['<pad>', '<start>', '<end>', '<unk>', 'heart'] } } as unknown as ModelManifest;

describe('fine-tuning methods', () => {
  it('has one module per catalogue entry, and the contract accepts exactly those names', () => {
    expect(METHODS.map((m) => m.name)).toEqual(METHOD_CATALOG.map((m) => m.name));
    const base = { kind: 'train', baseModelId: 'm', datasetDir: '/d', outputName: 'o' };
    for (const name of FINETUNE_METHODS) expect(trainSpec.parse({ ...base, method: name }).method).toBe(name);
    expect(() => trainSpec.parse({ ...base, method: 'dreambooth' })).toThrow();
    expect(() => finetuneMethod('dreambooth')).toThrow(/unknown method 'dreambooth'; use lora, full, ti/);
  });

  it('serves the catalogue to the renderer through system.info', () => {
    const info = systemInfo('/tmp/x', 'web');
    expect(info.finetuneMethods.map((m) => [m.name, m.fields, m.triggerRequired])).toEqual(METHOD_CATALOG.map((m) => [m.name, [...m.fields], m.triggerRequired]));
  });

  it('checks each method\'s own options: output kind, trigger word, LoRA settings', () => {
    expect(() => finetuneMethod('lora').setup({ out: 'x.safetensors', rank: 0 }, manifest)).toThrow(FinetuneError);
    expect(finetuneMethod('lora').setup({ out: 'x.safetensors', rank: 4 }, manifest).lora).toEqual({ rank: 4, alpha: 4, targets: ['attn', 'ff', 'conv'] });
    expect(() => finetuneMethod('lora').setup({ out: 'folder' }, manifest)).toThrow(/\.safetensors/);
    expect(() => finetuneMethod('full').setup({ out: 'x.safetensors' }, manifest)).toThrow(/model package folder/);
    expect(() => finetuneMethod('ti').setup({ out: 'x.safetensors' }, manifest)).toThrow(/needs a trigger word/);
    expect(() => finetuneMethod('ti').setup({ out: 'x.safetensors', triggerWord: 'heart' }, manifest)).toThrow(/already a word/);
    const ti = finetuneMethod('ti').setup({ out: 'x.safetensors', triggerWord: 'Zork' }, manifest);
    expect([ti.trigger, ti.word?.id]).toEqual(['zork', 5]);
    expect(Array.from(ti.word!.tokenize('zork heart')).slice(0, 4)).toEqual([1, 5, 4, 2]);
  });
});
