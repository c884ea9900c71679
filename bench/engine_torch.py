# The PyTorch side of `npm run bench -- engine`: the same reference network and measurements,
# run by Python's torch on (ideally) the same libtorch. Prints one JSON line.
import json, statistics, sys, time
import torch
import torch.nn.functional as F

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
torch.manual_seed(0)

def w(o, i):
    return (torch.randn(o, i, 3, 3) * (2 / (i * 9)) ** 0.5).requires_grad_()

params = [w(64, 3), w(64, 64), w(64, 64), w(64, 64), w(64, 64), w(128, 64), w(128, 128), w(128, 128), w(64, 128), w(3, 64)]

def conv(x, k, stride=1):
    return F.conv2d(x, params[k], None, stride=stride, padding=1)

def res(x, k):
    return x + conv(F.silu(conv(F.silu(x), k)), k + 1)

def forward(x, target):
    h0 = conv(x, 0)
    h1 = res(res(h0, 1), 3)
    d = res(conv(h1, 5, 2), 6)
    u = conv(F.interpolate(d, scale_factor=2, mode="nearest"), 8)
    out = conv(F.silu(u + h1), 9)
    return F.mse_loss(out, target)

def time_it(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    ms = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1000)
    return statistics.median(ms)

x = torch.randn(8, 3, 32, 32)
target = torch.randn(8, 3, 32, 32)

def step():
    forward(x, target).backward()
    for p in params:
        p.grad = None

def fwd():
    with torch.no_grad():
        forward(x, target)

ref_net_ms = time_it(step, 5, 30)
ref_net_fwd_ms = time_it(fwd, 5, 30)

a = torch.ones(1)
b = torch.ones(1)
N = 200_000
runs = []
for _ in range(7):
    t0 = time.perf_counter()
    for _ in range(N):
        c = a.add(b)
        del c
    runs.append((time.perf_counter() - t0) / N * 1e6)
tiny = statistics.median(runs[2:])

m1 = torch.randn(2048, 2048)
m2 = torch.randn(2048, 2048)
gemm_ms = time_it(lambda: m1 @ m2, 2, 10)
print(json.dumps({
    "version": torch.__version__, "ref_net_ms": ref_net_ms, "ref_net_fwd_ms": ref_net_fwd_ms,
    "tiny_op_us": tiny, "sgemm_gflops": 2 * 2048 ** 3 / (gemm_ms / 1000) / 1e9,
}))
