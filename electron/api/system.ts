import { z } from 'zod';
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
    }),
  ),
};

export const systemEvents = {
  'system.status': z.object({ activeJobs: z.number().int(), message: z.string().optional() }),
};
