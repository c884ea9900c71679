// torch.distributed (c10d) for the addon: a TCPStore rendezvous and one process group per process,
// Gloo on CPUs (and NCCL when the build has CUDA and NCCL), with all-reduce, broadcast, all-gather
// and barrier. As in addon.cc, each function converts its arguments, calls libtorch and returns;
// every c10::Error or std::exception (a time-out, a peer that closed its connection) becomes a JS
// exception "distX(…): message". Collectives block the calling thread until they finish or their
// time-out passes: a dead peer surfaces as an error within the time-out, never as a hang.
//
// The API follows PyTorch's c10d (torch/csrc/distributed/c10d/): in libtorch 1.x the process groups
// derive from c10d::ProcessGroup, in 2.x from c10d::Backend, with the same collective signatures.

#include <ATen/ATen.h>
#include <torch/csrc/api/include/torch/version.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#ifdef USE_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <napi.h>

#include <chrono>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

// The tensor handle table lives in addon.cc.
at::Tensor sharpenTensorArg(Napi::Env env, const Napi::Value& v, const std::string& what);
Napi::Value sharpenWrap(Napi::Env env, at::Tensor t);

namespace {

#if TORCH_VERSION_MAJOR >= 2
using Group = c10d::Backend;
#else
using Group = c10d::ProcessGroup;
#endif

// An op: a function of the JS call's arguments (registered with REG below, declared in src/torch/native.ts).
#define OP(name) Napi::Value op_##name(const Napi::CallbackInfo& info)

struct State {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<Group> group;
  std::string backend;
  int rank = -1;
  int size = 0;
  std::chrono::milliseconds timeout{0};
};
State state;  // one process group per process, as torch.distributed's default group

struct DistError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

Group& group() {
  if (!state.group) throw DistError("no process group: call initProcessGroup first");
  return *state.group;
}

// Waits for a collective; a failure (peer gone, time-out) is rethrown as the work's exception.
void finish(const c10::intrusive_ptr<c10d::Work>& work) {
  if (!work->wait(state.timeout)) throw DistError("the collective did not complete within the time-out");
}

int64_t integerArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (i >= info.Length() || !info[i].IsNumber()) throw DistError(std::string(what) + " must be an integer");
  const double d = info[i].As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int64_t>(d))) throw DistError(std::string(what) + " must be an integer");
  return static_cast<int64_t>(d);
}

std::string stringArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (i >= info.Length() || !info[i].IsString()) throw DistError(std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

// The first line of a libtorch message, without its C++ backtrace.
std::string firstLines(const std::string& what) {
  std::istringstream in(what);
  std::string line, out;
  int n = 0;
  while (std::getline(in, line) && n < 3) {
    if (line.rfind("Exception raised from", 0) == 0 || line.rfind("frame #", 0) == 0) break;
    if (line.empty()) continue;
    out += (n++ ? " " : "") + line;
  }
  return out;
}

#ifdef USE_C10D_GLOO
// The network device Gloo binds: GLOO_SOCKET_IFNAME when set (as in PyTorch), the loopback device
// when the master is on this machine's loopback, else the address this host's name resolves to.
std::shared_ptr<::gloo::transport::Device> glooDevice(const std::string& masterAddr) {
  const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
  if (ifname && *ifname) return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  if (masterAddr == "localhost" || masterAddr.rfind("127.", 0) == 0) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}
#endif

// distInit(rank, worldSize, masterAddr, masterPort, timeoutMs, backend): the rendezvous (rank 0
// serves the TCPStore) and the process group.
OP(distInit) {
  if (state.group) throw DistError("a process group is already initialised (destroyProcessGroup first)");
  const int rank = static_cast<int>(integerArg(info, 0, "rank"));
  const int size = static_cast<int>(integerArg(info, 1, "worldSize"));
  const std::string addr = stringArg(info, 2, "masterAddr");
  const int64_t port = integerArg(info, 3, "masterPort");
  const std::chrono::milliseconds timeout(integerArg(info, 4, "timeoutMs"));
  const std::string backend = stringArg(info, 5, "backend");
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(port);
  so.isServer = rank == 0;
  so.numWorkers = static_cast<std::size_t>(size);
  so.waitWorkers = true;
  so.timeout = timeout;
  auto store = c10::make_intrusive<c10d::TCPStore>(addr, so);
  c10::intrusive_ptr<Group> g;
  if (backend == "gloo") {
#ifdef USE_C10D_GLOO
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    opts->devices.push_back(glooDevice(addr));
    opts->threads = 2;
    g = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, opts);
#else
    throw DistError("this build of the addon has no Gloo (the gloo headers were not found when it was built; install libgloo-dev and rebuild)");
#endif
  } else if (backend == "nccl") {
#ifdef USE_C10D_NCCL
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = timeout;
    g = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, opts);
#else
    throw DistError("this build of the addon has no NCCL (it needs a CUDA libtorch and nccl.h at build time); use the gloo backend");
#endif
  } else {
    throw DistError("backend must be 'gloo' or 'nccl', got '" + backend + "'");
  }
  state = State{store, g, backend, rank, size, timeout};
  return info.Env().Undefined();
}

c10d::ReduceOp reduceOp(const std::string& op) {
  if (op == "sum") return c10d::ReduceOp::SUM;
  if (op == "max") return c10d::ReduceOp::MAX;
  if (op == "min") return c10d::ReduceOp::MIN;
  if (op == "product") return c10d::ReduceOp::PRODUCT;
  throw DistError("op must be 'sum', 'max', 'min' or 'product', got '" + op + "'");
}

// distAllReduce(tensor, op): in place.
OP(distAllReduce) {
  std::vector<at::Tensor> ts{sharpenTensorArg(info.Env(), info[0], "tensor")};
  c10d::AllreduceOptions o;
  o.reduceOp = reduceOp(stringArg(info, 1, "op"));
  o.timeout = state.timeout;
  finish(group().allreduce(ts, o));
  return info.Env().Undefined();
}

// distBroadcast(tensor, src): in place.
OP(distBroadcast) {
  std::vector<at::Tensor> ts{sharpenTensorArg(info.Env(), info[0], "tensor")};
  c10d::BroadcastOptions o;
  o.rootRank = integerArg(info, 1, "src");
  o.timeout = state.timeout;
  finish(group().broadcast(ts, o));
  return info.Env().Undefined();
}

// distAllGather(tensor): every rank's tensor, in rank order (all of the same shape and dtype).
OP(distAllGather) {
  const at::Tensor t = sharpenTensorArg(info.Env(), info[0], "tensor");
  Group& g = group();
  std::vector<at::Tensor> in{t};
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < state.size; r++) out[0].push_back(at::empty_like(t));
  c10d::AllgatherOptions o;
  o.timeout = state.timeout;
  finish(g.allgather(out, in, o));
  auto arr = Napi::Array::New(info.Env(), out[0].size());
  for (uint32_t r = 0; r < out[0].size(); r++) arr.Set(r, sharpenWrap(info.Env(), out[0][r]));
  return arr;
}

OP(distBarrier) {
  c10d::BarrierOptions o;
  o.timeout = state.timeout;
  finish(group().barrier(o));
  return info.Env().Undefined();
}

// distDestroy(): drops the group and the store (their threads end); a no-op without a group.
OP(distDestroy) {
  state = State{};
  return info.Env().Undefined();
}

// distInfo(): null, or the group's rank, size, backend and time-out.
OP(distInfo) {
  Napi::Env env = info.Env();
  if (!state.group) return env.Null();
  auto o = Napi::Object::New(env);
  o.Set("rank", state.rank);
  o.Set("worldSize", state.size);
  o.Set("backend", state.backend);
  o.Set("timeoutMs", static_cast<double>(state.timeout.count()));
  return o;
}

// distBackends(): the backends this build has.
OP(distBackends) {
  auto arr = Napi::Array::New(info.Env());
  uint32_t n = 0;
#ifdef USE_C10D_GLOO
  arr.Set(n++, "gloo");
#endif
#ifdef USE_C10D_NCCL
  arr.Set(n++, "nccl");
#endif
  (void)n;
  return arr;
}

using Fn = Napi::Value (*)(const Napi::CallbackInfo&);

template <Fn F>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  const char* name = static_cast<const char*>(info.Data());
  try {
    return F(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(info.Env(), std::string(name) + ": " + firstLines(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string(name) + ": " + firstLines(e.what()));
  }
}

}  // namespace

void sharpenRegisterDistributed(Napi::Env env, Napi::Object exports) {
#define REG(name) exports.Set(#name, Napi::Function::New(env, guarded<op_##name>, #name, const_cast<char*>(#name)))
  REG(distInit); REG(distAllReduce); REG(distBroadcast); REG(distAllGather); REG(distBarrier); REG(distDestroy);
  REG(distInfo); REG(distBackends);
#undef REG
}
