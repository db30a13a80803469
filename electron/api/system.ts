import { z } from 'zod';
import { SCHEDULE_TYPE_NAMES } from '../engine/diffusion/sigma-schedules.ts';
import { FINETUNE_METHODS } from '../engine/finetune/methods/catalog.ts';
import { request } from './contract.ts';

export const systemRequests = {
  'system.info': request(
    z.object({}),
    z.object({
      appVersion: z.string(),
      onnxruntimeVersion: z.string(),
      executionProviders: z.array(z.string()),
      activeProvider: z.string(),
      dataDir: z.string(),
      platform: z.string(),
      transport: z.enum(['ipc', 'web']),
      /**
       * The samplers (engine/diffusion/samplers.ts SAMPLERS, the one list): name as jobs take it, the label
       * A1111 writes, and the schedule types each takes ('automatic' first).
       */
      samplers: z.array(z.object({ name: z.string(), label: z.string(), schedules: z.array(z.enum(SCHEDULE_TYPE_NAMES)) })),
      /** A1111's schedule types and ours, with the labels written in the parameters (`Schedule type: Karras`). */
      scheduleTypes: z.array(z.object({ name: z.enum(SCHEDULE_TYPE_NAMES), label: z.string() })),
      /** The fine-tuning methods (engine/finetune/methods/catalog.ts): the Train view's choices and fields. */
      finetuneMethods: z.array(z.object({
        name: z.enum(FINETUNE_METHODS),
        label: z.string(),
        summary: z.string(),
        output: z.enum(['file', 'package']),
        fields: z.array(z.enum(['rank', 'alpha', 'targets'])),
        triggerRequired: z.boolean(),
        learningRate: z.number(),
      })),
    }),
  ),
};

export const systemEvents = {
  'system.status': z.object({
    activeJobs: z.number().int(),
    message: z.string().optional(),
    /** The memory estimate of the job about to start ("A 512x512 txt2img job needs about 5.3 GiB of memory (…)"). */
    memory: z.string().optional(),
  }),
};
