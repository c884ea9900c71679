// The committed front end (web/dist) is built from the current sources: its build-info.json holds
// the fingerprint of web/src, web/index.html and web/vite.config.ts (run `npm run build:web` after
// changing them), and index.html loads the bundle that is there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { webSourceHash } from '../../src/server/web-build.js';
import { REPO_ROOT } from '../../src/server/jobs.js';

test('web/dist is built from the current sources of web/', () => {
  const web = join(REPO_ROOT, 'web');
  const info = JSON.parse(readFileSync(join(web, 'dist', 'build-info.json'), 'utf8')) as { sources: string };
  assert.equal(info.sources, webSourceHash(web), 'web/dist is stale: run `npm run build:web` and commit web/dist');
  const index = readFileSync(join(web, 'dist', 'index.html'), 'utf8');
  for (const m of index.matchAll(/(?:src|href)="\/(assets\/[^"]+)"/g)) assert.ok(existsSync(join(web, 'dist', m[1]!)), m[1]);
  assert.match(index, /assets\/app\.js/);
});
