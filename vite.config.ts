import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vite';

// The renderer: root renderer/, built to renderer/dist with relative asset URLs so the same files load
// from web mode (http://127.0.0.1) and from the Electron shell's app:// protocol.
export default defineConfig({
  root: 'renderer',
  base: './',
  plugins: [svelte({ configFile: false })],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'chrome120',
    chunkSizeWarningLimit: 1500,
    // Svelte compiles dominate the build; the timing report is noise in `npm start`.
    rolldownOptions: { checks: { bundlerTimings: false } },
  },
});
