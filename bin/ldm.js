#!/usr/bin/env node
// The installed `ldm` command. The engine ships as TypeScript, so this registers tsx's loader and
// hands over to electron/cli/main.ts (the same code as `npm run cli -- …`).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../electron/cli/main.ts');
await main(process.argv.slice(2));
