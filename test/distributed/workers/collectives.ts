// A worker of the process-group test: joins the group from the environment (RANK, WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT), runs each collective once and prints what it got as one JSON line.
// With DIE_RANK set, that rank exits after the first collective and the others go on to a second.
import * as torch from '../../../src/torch/index.js';
import * as dist from '../../../src/distributed/index.js';

dist.initProcessGroup({ timeoutMs: Number(process.env.SHARPEN_DIST_TIMEOUT_MS ?? 20000) });
const rank = dist.getRank();
const world = dist.getWorldSize();
const t = torch.tensor([rank + 1, 10 * (rank + 1)], { dtype: "float32" });
dist.allReduce(t);
const summed = Array.from(t.toFloat32Array());
if (process.env.DIE_RANK !== undefined && Number(process.env.DIE_RANK) === rank) process.exit(3);
const m = torch.tensor([rank], { dtype: "float32" });
dist.allReduce(m, 'max');
const b = rank === 0 ? torch.tensor([7, 8, 9], { dtype: "float32" }) : torch.zeros([3]);
dist.broadcast(b, 0);
const gathered = dist.allGather(torch.tensor([rank, rank * rank], { dtype: "float32" })).map((x) => Array.from(x.toFloat32Array()));
dist.barrier();
dist.destroyProcessGroup();
console.log(JSON.stringify({ rank, world, summed, max: m.item(), broadcast: Array.from(b.toFloat32Array()), gathered }));
