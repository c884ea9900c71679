// The fingerprint of the front end's sources (web/index.html, web/vite.config.ts, web/src/**): the
// build writes it into web/dist/build-info.json, and a test compares it with the sources, so a
// committed web/dist that was not rebuilt after a change is caught.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]))
    .sort();
}

/** SHA-256 over the front end's source files, by path and content. */
export function webSourceHash(webDir: string): string {
  const h = createHash('sha256');
  for (const f of [join(webDir, 'index.html'), join(webDir, 'vite.config.ts'), ...filesUnder(join(webDir, 'src'))]) {
    h.update(relative(webDir, f).split('\\').join('/'));
    h.update('\0');
    h.update(readFileSync(f).toString('utf8').replace(/\r\n/g, '\n'));
    h.update('\0');
  }
  return h.digest('hex');
}
