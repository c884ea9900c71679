// Builds the dashboard's front end (web/src, preact + htm + uPlot) into web/dist, which the server
// serves; file names carry no hashes so that a rebuild of unchanged sources changes nothing, and
// build-info.json records the sources' fingerprint (src/server/web-build.ts).
import { defineConfig } from 'vite';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { webSourceHash } from '../src/server/web-build.ts';

const webDir = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: webDir,
  base: '/',
  logLevel: 'warn',
  build: {
    outDir: join(webDir, 'dist'),
    emptyOutDir: true,
    rollupOptions: { output: { entryFileNames: 'assets/app.js', chunkFileNames: 'assets/[name].js', assetFileNames: 'assets/[name][extname]' } },
  },
  plugins: [{
    name: 'build-info',
    closeBundle() {
      writeFileSync(join(webDir, 'dist', 'build-info.json'), JSON.stringify({ sources: webSourceHash(webDir) }) + '\n');
    },
  }],
});
