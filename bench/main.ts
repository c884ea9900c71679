// `npm run bench -- NAME`: runs one benchmark by name (an unknown name lists the valid ones).
const BENCHES: Record<string, () => Promise<{ run: () => Promise<void> }>> = {
  engine: () => import('./engine.js'),
  model: () => import('./model.js'),
  rewards: () => import('./rewards.js'),
  sharpening: () => import('./sharpening.js'),
  distributed: () => import('./distributed.js'),
};

const name = process.argv[2] ?? 'engine';
const load = BENCHES[name];
if (!load) {
  console.error(`unknown benchmark '${name}': expected one of ${Object.keys(BENCHES).join(', ')}`);
  process.exit(2);
}
await (await load()).run();
