// The native layer: tensor handles over libtorch, an op table, autograd, RNG and threads.
//
// It is deliberately thin (DESIGN.md, "Rules of the engine layer"): every function below converts
// its arguments, calls one libtorch function and wraps the result. Argument checking with friendly
// messages lives in TypeScript (src/torch/); here, every c10::Error or std::exception becomes a JS
// exception naming the op and describing its tensor arguments, so bad input never aborts the process.
// The whole surface is described by one TypeScript interface: src/torch/native.ts.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/Generator.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/api/include/torch/version.h>
#include <napi.h>

#include <cstring>
#include <sstream>
#include <string>
#include <vector>

// distributed.cc: registers the c10d functions (distInit, distAllReduce, …); device.cc: setData, setAutocast, isAutocast.
void sharpenRegisterDistributed(Napi::Env env, Napi::Object exports);
void sharpenRegisterDevice(Napi::Env env, Napi::Object exports);

namespace {

// ---------------------------------------------------------------- handles

// A JS tensor handle is a plain number naming a slot of a per-environment table (each worker
// thread has its own): index + generation · 2^24. Numbers cost V8 nothing to make or collect, so
// a tiny op pays no garbage-collector bookkeeping; the generation makes a stale handle (disposed,
// slot reused) an error instead of an alias. dispose() frees the tensor at once; the TypeScript
// layer's FinalizationRegistry is the safety net for handles that were never disposed, and the
// table frees whatever is left when its environment (the main thread or a worker) exits.
constexpr double kGenScale = 16777216.0;  // 2^24 slots at most
constexpr uint32_t kMaxSlots = 1u << 24;
constexpr int64_t kReportStep = 1 << 20;  // report external memory to V8 in steps of 1 MiB

struct Slot {
  at::Tensor t;
  uint32_t gen = 0;
  int64_t bytes = 0;
};

struct Table {
  std::vector<Slot> slots;
  std::vector<uint32_t> free;
  int64_t live = 0;           // live handles
  int64_t liveBytes = 0;      // their bytes: numel · element size (views count again)
  int64_t unreported = 0;     // CPU bytes not yet reported to V8 as external memory
  int64_t reported = 0;
};

Table& table(Napi::Env env) { return *env.GetInstanceData<Table>(); }

void account(Napi::Env env, Table& tb, int64_t cpuDelta) {
  tb.unreported += cpuDelta;
  if (tb.unreported >= kReportStep || tb.unreported <= -kReportStep) {
    Napi::MemoryManagement::AdjustExternalMemory(env, tb.unreported);
    tb.reported += tb.unreported;
    tb.unreported = 0;
  }
}

Napi::Value wrap(Napi::Env env, at::Tensor t) {
  if (!t.defined()) return env.Null();
  Table& tb = table(env);
  uint32_t idx;
  if (!tb.free.empty()) {
    idx = tb.free.back();
    tb.free.pop_back();
  } else {
    if (tb.slots.size() >= kMaxSlots) throw std::runtime_error("too many live tensors (2^24): dispose some");
    idx = static_cast<uint32_t>(tb.slots.size());
    tb.slots.emplace_back();
  }
  Slot& s = tb.slots[idx];
  s.t = std::move(t);
  const int64_t nbytes = s.t.numel() * static_cast<int64_t>(s.t.element_size());
  s.bytes = nbytes;
  tb.live++;
  tb.liveBytes += nbytes;
  if (s.t.device().is_cpu()) account(env, tb, nbytes);
  return Napi::Number::New(env, static_cast<double>(idx) + kGenScale * s.gen);
}

Napi::Value wrapList(Napi::Env env, const std::vector<at::Tensor>& ts) {
  auto arr = Napi::Array::New(env, ts.size());
  for (size_t i = 0; i < ts.size(); i++) arr.Set(static_cast<uint32_t>(i), wrap(env, ts[i]));
  return arr;
}

// The slot a handle names, or nullptr when it is not a number, or names a freed or reused slot.
Slot* slotOf(Napi::Env env, const Napi::Value& v) {
  if (!v.IsNumber()) return nullptr;
  const double h = v.As<Napi::Number>().DoubleValue();
  if (!(h >= 0) || h > 9007199254740991.0 || h != std::floor(h)) return nullptr;
  const uint64_t u = static_cast<uint64_t>(h);
  const uint32_t idx = static_cast<uint32_t>(u % kMaxSlots);
  const uint64_t gen = u / kMaxSlots;
  Table& tb = table(env);
  if (idx >= tb.slots.size()) return nullptr;
  Slot& s = tb.slots[idx];
  if (s.gen != gen || !s.t.defined()) return nullptr;
  return &s;
}

// Frees a slot's tensor; the slot's next tenant gets a new generation.
void release(Napi::Env env, Slot* s) {
  Table& tb = table(env);
  const bool cpu = s->t.device().is_cpu();
  s->t = at::Tensor();
  tb.live--;
  tb.liveBytes -= s->bytes;
  if (cpu) account(env, tb, -s->bytes);
  s->bytes = 0;
  s->gen++;
  tb.free.push_back(static_cast<uint32_t>(s - tb.slots.data()));
}

// An argument error raised by the converters (the guard adds the op's name).
struct ArgError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const at::Tensor& tensorOf(Napi::Env env, const Napi::Value& v, const std::string& what) {
  Slot* s = slotOf(env, v);
  if (!s) throw ArgError(what + (v.IsNumber() ? " is a disposed or unknown tensor handle" : " is not a tensor handle"));
  return s->t;
}

// ---------------------------------------------------------------- argument converters

struct Args {
  const Napi::CallbackInfo& info;
  Napi::Env env;
  explicit Args(const Napi::CallbackInfo& i) : info(i), env(i.Env()) {}

  std::string name(size_t i) const { return "argument " + std::to_string(i); }
  bool isNull(size_t i) const { return i >= info.Length() || info[i].IsNull() || info[i].IsUndefined(); }
  // Which arguments were read as tensors (bit i) or tensor lists, so that an error message can
  // describe them: handles are plain numbers, so the op's own reading tells them from scalars.
  mutable uint32_t tensorArgs = 0, listArgs = 0;

  const at::Tensor& T(size_t i) const {
    tensorArgs |= 1u << i;
    return tensorOf(env, info[i], name(i));
  }
  c10::optional<at::Tensor> optT(size_t i) const {
    if (isNull(i)) return c10::nullopt;
    return T(i);
  }
  double D(size_t i) const {
    if (i >= info.Length() || !info[i].IsNumber()) throw ArgError(name(i) + " must be a number");
    return info[i].As<Napi::Number>().DoubleValue();
  }
  int64_t I(size_t i) const {
    if (i >= info.Length() || !info[i].IsNumber()) throw ArgError(name(i) + " must be an integer");
    return integer(info[i].As<Napi::Number>().DoubleValue(), name(i));
  }
  // A JS number that must be an exact integer (no silent truncation of 1.5 to 1).
  static int64_t integer(double d, const std::string& what) {
    if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9.007199254740991e15) {
      std::ostringstream o;
      o << what << " must be an integer, got " << d;
      throw ArgError(o.str());
    }
    return static_cast<int64_t>(d);
  }
  bool B(size_t i) const {
    if (i >= info.Length() || !info[i].IsBoolean()) throw ArgError(name(i) + " must be a boolean");
    return info[i].As<Napi::Boolean>().Value();
  }
  std::string S(size_t i) const {
    if (i >= info.Length() || !info[i].IsString()) throw ArgError(name(i) + " must be a string");
    return info[i].As<Napi::String>().Utf8Value();
  }
  // Integer-valued JS numbers become integer scalars (as Python's `1` does), others doubles.
  at::Scalar scalar(size_t i) const {
    if (i < info.Length() && info[i].IsBoolean()) return at::Scalar(info[i].As<Napi::Boolean>().Value());
    const double d = D(i);
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.007199254740992e15) return at::Scalar(static_cast<int64_t>(d));
    return at::Scalar(d);
  }
  c10::optional<at::Scalar> optScalar(size_t i) const {
    if (isNull(i)) return c10::nullopt;
    return scalar(i);
  }
  std::vector<int64_t> ints(size_t i) const {
    if (i >= info.Length() || !info[i].IsArray()) throw ArgError(name(i) + " must be an array of integers");
    auto a = info[i].As<Napi::Array>();
    std::vector<int64_t> out(a.Length());
    for (uint32_t k = 0; k < a.Length(); k++) {
      Napi::Value e = a.Get(k);
      if (!e.IsNumber()) throw ArgError(name(i) + "[" + std::to_string(k) + "] must be an integer");
      out[k] = integer(e.As<Napi::Number>().DoubleValue(), name(i) + "[" + std::to_string(k) + "]");
    }
    return out;
  }
  c10::optional<std::vector<int64_t>> optInts(size_t i) const {
    if (isNull(i)) return c10::nullopt;
    return ints(i);
  }
  std::vector<at::Tensor> tensors(size_t i) const {
    if (i >= info.Length() || !info[i].IsArray()) throw ArgError(name(i) + " must be an array of tensors");
    auto a = info[i].As<Napi::Array>();
    listArgs |= 1u << i;
    std::vector<at::Tensor> out;
    out.reserve(a.Length());
    for (uint32_t k = 0; k < a.Length(); k++) out.push_back(tensorOf(env, a.Get(k), name(i) + "[" + std::to_string(k) + "]"));
    return out;
  }
  at::ScalarType dtype(size_t i) const;
  at::Device device(size_t i) const {
    if (isNull(i)) return at::Device(at::kCPU);
    return at::Device(S(i));
  }
  at::TensorOptions options(size_t dtypeArg, size_t deviceArg) const {
    return at::TensorOptions().dtype(dtype(dtypeArg)).device(device(deviceArg));
  }
};

struct DTypeName {
  const char* name;
  at::ScalarType type;
};
const DTypeName kDTypes[] = {
    {"float32", at::kFloat}, {"float64", at::kDouble}, {"float16", at::kHalf}, {"bfloat16", at::kBFloat16},
    {"int64", at::kLong},    {"int32", at::kInt},      {"int16", at::kShort},  {"int8", at::kChar},
    {"uint8", at::kByte},    {"bool", at::kBool},
};

at::ScalarType Args::dtype(size_t i) const {
  const std::string s = S(i);
  for (const auto& d : kDTypes)
    if (s == d.name) return d.type;
  throw ArgError(name(i) + ": unknown dtype '" + s + "'");
}

const char* dtypeName(at::ScalarType t) {
  for (const auto& d : kDTypes)
    if (t == d.type) return d.name;
  return "unsupported";
}

std::string describeTensor(const at::Tensor& t) {
  std::ostringstream o;
  o << dtypeName(t.scalar_type()) << "[";
  for (int64_t d = 0; d < t.dim(); d++) o << (d ? "," : "") << t.size(d);
  o << "]";
  if (!t.device().is_cpu()) o << "@" << t.device().str();
  return o.str();
}

// Describes the arguments of a failed call: tensors by dtype and shape, other values briefly.
std::string describeValue(Napi::Env env, const Napi::Value& v, bool isTensor) {
  std::ostringstream o;
  if (isTensor) {
    Slot* sl = slotOf(env, v);
    o << (sl ? describeTensor(sl->t) : v.IsNumber() ? std::string("<disposed>") : std::string("<not a tensor>"));
  } else if (v.IsNumber()) {
    o << v.As<Napi::Number>().DoubleValue();
  } else if (v.IsBoolean()) {
    o << (v.As<Napi::Boolean>().Value() ? "true" : "false");
  } else if (v.IsString()) {
    o << "'" << v.As<Napi::String>().Utf8Value() << "'";
  } else if (v.IsNull() || v.IsUndefined()) {
    o << "null";
  } else {
    o << "?";
  }
  return o.str();
}
// `guess`: arguments were not all converted (an argument error), so a number that names a live
// tensor is described as that tensor.
std::string describeArgs(const Args& a, bool guess) {
  std::ostringstream o;
  for (size_t i = 0; i < a.info.Length(); i++) {
    if (i) o << ", ";
    Napi::Value v = a.info[i];
    const bool isTensor = (i < 32 && ((a.tensorArgs >> i) & 1)) || (guess && v.IsNumber() && slotOf(a.env, v));
    const bool isList = i < 32 && ((a.listArgs >> i) & 1);
    if (v.IsArray()) {
      auto arr = v.As<Napi::Array>();
      o << "[";
      for (uint32_t k = 0; k < arr.Length() && k < 8; k++) o << (k ? "," : "") << describeValue(a.env, arr.Get(k), isList);
      if (arr.Length() > 8) o << ",…";
      o << "]";
    } else {
      o << describeValue(a.env, v, isTensor);
    }
  }
  return o.str();
}

// The first lines of a libtorch message, without its C++ backtrace.
std::string shortMessage(const std::string& what) {
  std::string out;
  std::istringstream in(what);
  std::string line;
  int n = 0;
  while (std::getline(in, line) && n < 4) {
    if (line.rfind("Exception raised from", 0) == 0 || line.rfind("frame #", 0) == 0) break;
    if (line.empty()) continue;
    out += (n ? " " : "") + line;
    n++;
  }
  return out;
}

using Fn = Napi::Value (*)(const Args&);

// Every op runs inside this guard: libtorch and conversion errors become JS errors
// "op(args): message".
template <Fn F>
Napi::Value guard(const Napi::CallbackInfo& info) {
  const char* op = static_cast<const char*>(info.Data());
  Args args(info);
  try {
    return F(args);
  } catch (const Napi::Error&) {
    throw;
  } catch (const ArgError& e) {
    throw Napi::Error::New(info.Env(), std::string(op) + "(" + describeArgs(args, true) + "): " + e.what());
  } catch (const c10::Error& e) {
    throw Napi::Error::New(info.Env(), std::string(op) + "(" + describeArgs(args, false) + "): " + shortMessage(e.what_without_backtrace()));
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(info.Env(), std::string(op) + "(" + describeArgs(args, false) + "): out of memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string(op) + "(" + describeArgs(args, false) + "): " + shortMessage(e.what()));
  }
}

#define OP(name) Napi::Value op_##name(const Args& a)
#define RET(expr) return wrap(a.env, (expr))

// ---------------------------------------------------------------- handles, meta

// dispose(h): frees the tensor; a handle that is already freed is ignored (the finalizer safety
// net may come after an explicit dispose), so it returns whether it freed something.
OP(dispose) {
  Slot* s = slotOf(a.env, a.info[0]);
  if (s) release(a.env, s);
  return Napi::Boolean::New(a.env, s != nullptr);
}
OP(isAlive) { return Napi::Boolean::New(a.env, slotOf(a.env, a.info[0]) != nullptr); }
OP(shape) {
  const at::Tensor& t = a.T(0);
  auto arr = Napi::Array::New(a.env, t.dim());
  for (int64_t d = 0; d < t.dim(); d++) arr.Set(static_cast<uint32_t>(d), Napi::Number::New(a.env, static_cast<double>(t.size(d))));
  return arr;
}
OP(dtype) { return Napi::String::New(a.env, dtypeName(a.T(0).scalar_type())); }
OP(device) { return Napi::String::New(a.env, a.T(0).device().str()); }
OP(isContiguous) { return Napi::Boolean::New(a.env, a.T(0).is_contiguous()); }
OP(memory) {
  auto o = Napi::Object::New(a.env);
  const Table& tb = table(a.env);
  o.Set("tensors", Napi::Number::New(a.env, static_cast<double>(tb.live)));
  o.Set("bytes", Napi::Number::New(a.env, static_cast<double>(tb.liveBytes)));
  return o;
}
OP(version) {
  auto o = Napi::Object::New(a.env);
  o.Set("torch", Napi::String::New(a.env, TORCH_VERSION));
  o.Set("cuda", Napi::Boolean::New(a.env, at::hasCUDA()));
  o.Set("cudaDeviceCount", Napi::Number::New(a.env, at::hasCUDA() ? at::detail::getCUDAHooks().getNumGPUs() : 0));
  o.Set("parallel", Napi::String::New(a.env, at::get_parallel_info()));
  return o;
}
OP(setNumThreads) {
  at::set_num_threads(static_cast<int>(a.I(0)));
  return a.env.Undefined();
}
OP(getNumThreads) { return Napi::Number::New(a.env, at::get_num_threads()); }

// ---------------------------------------------------------------- creation and data

OP(zeros) { RET(at::zeros(a.ints(0), a.options(1, 2))); }
OP(ones) { RET(at::ones(a.ints(0), a.options(1, 2))); }
OP(empty) { RET(at::empty(a.ints(0), a.options(1, 2))); }
OP(full) { RET(at::full(a.ints(0), a.scalar(1), a.options(2, 3))); }
OP(arange) { RET(at::arange(a.scalar(0), a.scalar(1), a.scalar(2), a.options(3, 4))); }
OP(linspace) { RET(at::linspace(a.scalar(0), a.scalar(1), a.I(2), a.options(3, 4))); }
OP(randn) { RET(at::randn(a.ints(0), a.options(1, 2))); }
OP(rand) { RET(at::rand(a.ints(0), a.options(1, 2))); }
OP(randint) { RET(at::randint(a.I(0), a.I(1), a.ints(2), a.options(3, 4))); }
OP(randperm) { RET(at::randperm(a.I(0), a.options(1, 2))); }
OP(multinomial) { RET(at::multinomial(a.T(0), a.I(1), a.B(2))); }

// fromBuffer(typedArray, shape, dtype): copies the bytes into a new CPU tensor.
OP(fromBuffer) {
  if (!a.info[0].IsTypedArray()) throw ArgError("argument 0 must be a typed array");
  auto ta = a.info[0].As<Napi::TypedArray>();
  const auto shape = a.ints(1);
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(a.dtype(2)));
  const size_t want = static_cast<size_t>(t.numel()) * t.element_size();
  if (ta.ByteLength() != want)
    throw ArgError("buffer has " + std::to_string(ta.ByteLength()) + " bytes, shape needs " + std::to_string(want));
  if (want) {
    auto* src = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    std::memcpy(t.data_ptr(), src, want);
  }
  RET(t);
}
// toBuffer(t): a copy of the (contiguous, CPU) data as an ArrayBuffer.
OP(toBuffer) {
  at::Tensor t = a.T(0).detach().to(at::kCPU).contiguous();
  const size_t n = static_cast<size_t>(t.numel()) * t.element_size();
  auto buf = Napi::ArrayBuffer::New(a.env, n);
  if (n) std::memcpy(buf.Data(), t.data_ptr(), n);
  return buf;
}
OP(item) {
  const at::Tensor& t = a.T(0);
  if (t.numel() != 1) throw ArgError("item() needs a tensor with one element, got " + describeTensor(t));
  if (t.scalar_type() == at::kBool) return Napi::Boolean::New(a.env, t.item<bool>());
  return Napi::Number::New(a.env, t.item<double>());
}
OP(to) {
  const at::Tensor& t = a.T(0);
  auto opts = t.options();
  if (!a.isNull(1)) opts = opts.dtype(a.dtype(1));
  if (!a.isNull(2)) opts = opts.device(a.device(2));
  RET(t.to(opts, /*non_blocking=*/false, /*copy=*/a.B(3)));
}
OP(contiguous) { RET(a.T(0).contiguous()); }
OP(clone) { RET(a.T(0).clone()); }

// ---------------------------------------------------------------- elementwise

// Each binary op comes in two forms: name(t, u) with tensors, nameScalar(t, s) with a JS number.
#define BINARY(name, fn)                               \
  OP(name) { RET(fn(a.T(0), a.T(1))); }                \
  OP(name##Scalar) { RET(fn(a.T(0), a.scalar(1))); }
OP(add) { RET(at::add(a.T(0), a.T(1), a.isNull(2) ? at::Scalar(1) : a.scalar(2))); }
OP(addScalar) { RET(at::add(a.T(0), a.scalar(1))); }
OP(sub) { RET(at::sub(a.T(0), a.T(1), a.isNull(2) ? at::Scalar(1) : a.scalar(2))); }
OP(subScalar) { RET(at::sub(a.T(0), a.scalar(1))); }
BINARY(mul, at::mul)
BINARY(div, at::div)
BINARY(pow, at::pow)
BINARY(remainder, at::remainder)
BINARY(fmod, at::fmod)
BINARY(eq, at::eq)
BINARY(ne, at::ne)
BINARY(lt, at::lt)
BINARY(le, at::le)
BINARY(gt, at::gt)
BINARY(ge, at::ge)
OP(rsub) { RET(at::rsub(a.T(0), a.scalar(1))); }          // scalar - t
OP(rdiv) { RET(at::mul(at::reciprocal(a.T(0)), a.scalar(1))); }  // scalar / t
OP(rpow) { RET(at::pow(a.scalar(1), a.T(0))); }           // scalar ** t
OP(maximum) { RET(at::maximum(a.T(0), a.T(1))); }
OP(minimum) { RET(at::minimum(a.T(0), a.T(1))); }
OP(atan2) { RET(at::atan2(a.T(0), a.T(1))); }
OP(logicalAnd) { RET(at::logical_and(a.T(0), a.T(1))); }
OP(logicalOr) { RET(at::logical_or(a.T(0), a.T(1))); }
OP(logicalXor) { RET(at::logical_xor(a.T(0), a.T(1))); }
OP(where) { RET(at::where(a.T(0), a.T(1), a.T(2))); }
OP(clamp) { RET(at::clamp(a.T(0), a.optScalar(1), a.optScalar(2))); }
OP(lerp) { RET(at::lerp(a.T(0), a.T(1), a.scalar(2))); }

#define UNARY(name, fn) \
  OP(name) { RET(fn(a.T(0))); }
UNARY(neg, at::neg)
UNARY(abs, at::abs)
UNARY(exp, at::exp)
UNARY(log, at::log)
UNARY(log2, at::log2)
UNARY(log1p, at::log1p)
UNARY(expm1, at::expm1)
UNARY(sqrt, at::sqrt)
UNARY(rsqrt, at::rsqrt)
UNARY(sin, at::sin)
UNARY(cos, at::cos)
UNARY(tanh, at::tanh)
UNARY(sigmoid, at::sigmoid)
UNARY(relu, at::relu)
UNARY(silu, at::silu)
UNARY(logSigmoid, at::log_sigmoid)
UNARY(sign, at::sign)
UNARY(floor, at::floor)
UNARY(ceil, at::ceil)
UNARY(round, at::round)
UNARY(trunc, at::trunc)
UNARY(reciprocal, at::reciprocal)
UNARY(square, at::square)
UNARY(erf, at::erf)
UNARY(logicalNot, at::logical_not)
UNARY(isnan, at::isnan)
UNARY(isinf, at::isinf)
UNARY(isfinite, at::isfinite)
OP(gelu) { RET(at::gelu(a.T(0), a.isNull(1) ? "none" : a.S(1))); }
OP(softplus) { RET(at::softplus(a.T(0), a.scalar(1), a.scalar(2))); }
OP(leakyRelu) { RET(at::leaky_relu(a.T(0), a.scalar(1))); }

// ---------------------------------------------------------------- reductions

OP(sum) {
  auto dims = a.optInts(1);
  if (!dims) RET(at::sum(a.T(0)));
  RET(at::sum(a.T(0), *dims, a.B(2)));
}
OP(mean) {
  auto dims = a.optInts(1);
  if (!dims) RET(at::mean(a.T(0)));
  RET(at::mean(a.T(0), *dims, a.B(2)));
}
OP(prod) {
  if (a.isNull(1)) RET(at::prod(a.T(0)));
  RET(at::prod(a.T(0), a.I(1), a.B(2)));
}
OP(amax) { RET(at::amax(a.T(0), a.isNull(1) ? std::vector<int64_t>{} : a.ints(1), a.B(2))); }
OP(amin) { RET(at::amin(a.T(0), a.isNull(1) ? std::vector<int64_t>{} : a.ints(1), a.B(2))); }
OP(maxAll) { RET(at::max(a.T(0))); }
OP(minAll) { RET(at::min(a.T(0))); }
OP(maxDim) {
  auto r = at::max(a.T(0), a.I(1), a.B(2));
  return wrapList(a.env, {std::get<0>(r), std::get<1>(r)});
}
OP(minDim) {
  auto r = at::min(a.T(0), a.I(1), a.B(2));
  return wrapList(a.env, {std::get<0>(r), std::get<1>(r)});
}
OP(argmax) {
  if (a.isNull(1)) RET(at::argmax(a.T(0)));
  RET(at::argmax(a.T(0), a.I(1), a.B(2)));
}
OP(argmin) {
  if (a.isNull(1)) RET(at::argmin(a.T(0)));
  RET(at::argmin(a.T(0), a.I(1), a.B(2)));
}
// Optional dimension lists (null = all dimensions) must outlive the ArrayRef that views them.
#define OPT_DIMS(var, i)                 \
  const auto var##_store = a.optInts(i); \
  const at::OptionalIntArrayRef var = var##_store ? at::OptionalIntArrayRef(at::IntArrayRef(*var##_store)) : at::OptionalIntArrayRef();
OP(std) {
  OPT_DIMS(dims, 1);
  RET(at::std(a.T(0), dims, a.B(2), a.B(3)));
}
OP(var) {
  OPT_DIMS(dims, 1);
  RET(at::var(a.T(0), dims, a.B(2), a.B(3)));
}
OP(logsumexp) { RET(at::logsumexp(a.T(0), a.ints(1), a.B(2))); }
OP(all) { RET(at::all(a.T(0))); }
OP(any) { RET(at::any(a.T(0))); }
OP(cumsum) { RET(at::cumsum(a.T(0), a.I(1))); }
OP(norm) {
  OPT_DIMS(dims, 2);
  RET(at::linalg_vector_norm(a.T(0), a.scalar(1), dims, a.B(3)));
}
OP(topk) {
  auto r = at::topk(a.T(0), a.I(1), a.I(2), a.B(3), true);
  return wrapList(a.env, {std::get<0>(r), std::get<1>(r)});
}
OP(sort) {
  auto r = at::sort(a.T(0), a.I(1), a.B(2));
  return wrapList(a.env, {std::get<0>(r), std::get<1>(r)});
}

// ---------------------------------------------------------------- shape and indexing

OP(reshape) { RET(at::reshape(a.T(0), a.ints(1))); }
OP(view) { RET(a.T(0).view(a.ints(1))); }
OP(permute) { RET(a.T(0).permute(a.ints(1))); }
OP(transpose) { RET(a.T(0).transpose(a.I(1), a.I(2))); }
OP(flatten) { RET(a.T(0).flatten(a.I(1), a.I(2))); }
OP(squeeze) {
  if (a.isNull(1)) RET(a.T(0).squeeze());
  RET(a.T(0).squeeze(a.I(1)));
}
OP(unsqueeze) { RET(a.T(0).unsqueeze(a.I(1))); }
OP(expand) { RET(a.T(0).expand(a.ints(1))); }
OP(repeat) { RET(a.T(0).repeat(a.ints(1))); }
OP(cat) { RET(at::cat(a.tensors(0), a.I(1))); }
OP(stack) { RET(at::stack(a.tensors(0), a.I(1))); }
OP(split) {
  if (a.info[1].IsNumber()) return wrapList(a.env, at::split(a.T(0), a.I(1), a.I(2)));
  return wrapList(a.env, at::split_with_sizes(a.T(0), a.ints(1), a.I(2)));
}
OP(chunk) { return wrapList(a.env, at::chunk(a.T(0), a.I(1), a.I(2))); }
OP(narrow) { RET(a.T(0).narrow(a.I(1), a.I(2), a.I(3))); }
OP(slice) { RET(a.T(0).slice(a.I(1), a.I(2), a.I(3), a.I(4))); }
OP(select) { RET(a.T(0).select(a.I(1), a.I(2))); }
OP(indexSelect) { RET(at::index_select(a.T(0), a.I(1), a.T(2))); }
OP(gather) { RET(at::gather(a.T(0), a.I(1), a.T(2))); }
OP(scatter) { RET(at::scatter(a.T(0), a.I(1), a.T(2), a.T(3))); }
OP(scatterAdd) { RET(at::scatter_add(a.T(0), a.I(1), a.T(2), a.T(3))); }
OP(maskedFill) { RET(at::masked_fill(a.T(0), a.T(1), a.scalar(2))); }
OP(index) {
  // index(t, [idx|null, ...]): advanced indexing with tensors; null keeps a dimension whole.
  const at::Tensor& self = a.T(0);
  if (!a.info[1].IsArray()) throw ArgError("argument 1 must be an array of tensors or nulls");
  a.listArgs |= 1u << 1;
  auto arr = a.info[1].As<Napi::Array>();
  c10::List<c10::optional<at::Tensor>> idx;
  for (uint32_t k = 0; k < arr.Length(); k++) {
    Napi::Value e = arr.Get(k);
    if (e.IsNull() || e.IsUndefined()) idx.push_back(c10::nullopt);
    else idx.push_back(tensorOf(a.env, e, "index " + std::to_string(k)));
  }
  RET(at::index(self, idx));
}
OP(flip) { RET(at::flip(a.T(0), a.ints(1))); }
OP(roll) { RET(at::roll(a.T(0), a.ints(1), a.ints(2))); }
OP(tril) { RET(at::tril(a.T(0), a.I(1))); }
OP(triu) { RET(at::triu(a.T(0), a.I(1))); }
OP(oneHot) { RET(at::one_hot(a.T(0), a.I(1))); }
OP(repeatInterleave) { RET(at::repeat_interleave(a.T(0), a.I(1), a.I(2))); }

// ---------------------------------------------------------------- linear algebra

OP(matmul) { RET(at::matmul(a.T(0), a.T(1))); }
OP(bmm) { RET(at::bmm(a.T(0), a.T(1))); }
OP(mm) { RET(at::mm(a.T(0), a.T(1))); }

// ---------------------------------------------------------------- in place (what optimizers need)

#define INPLACE(name, call)   \
  OP(name) {                  \
    at::Tensor t = a.T(0);    \
    call;                     \
    return a.env.Undefined(); \
  }
INPLACE(add_, t.add_(a.T(1), a.isNull(2) ? at::Scalar(1) : a.scalar(2)))
INPLACE(addScalar_, t.add_(a.scalar(1)))
INPLACE(sub_, t.sub_(a.T(1), a.isNull(2) ? at::Scalar(1) : a.scalar(2)))
INPLACE(subScalar_, t.sub_(a.scalar(1)))
INPLACE(mul_, t.mul_(a.T(1)))
INPLACE(mulScalar_, t.mul_(a.scalar(1)))
INPLACE(div_, t.div_(a.T(1)))
INPLACE(divScalar_, t.div_(a.scalar(1)))
OP(addcmul_) {
  at::Tensor t = a.T(0);
  t.addcmul_(a.T(1), a.T(2), a.scalar(3));
  return a.env.Undefined();
}
OP(addcdiv_) {
  at::Tensor t = a.T(0);
  t.addcdiv_(a.T(1), a.T(2), a.scalar(3));
  return a.env.Undefined();
}
INPLACE(lerp_, t.lerp_(a.T(1), a.scalar(2)))
OP(copy_) {
  at::Tensor t = a.T(0);
  t.copy_(a.T(1));
  return a.env.Undefined();
}
OP(zero_) {
  at::Tensor t = a.T(0);
  t.zero_();
  return a.env.Undefined();
}
OP(fill_) {
  at::Tensor t = a.T(0);
  t.fill_(a.scalar(1));
  return a.env.Undefined();
}
OP(clamp_) {
  at::Tensor t = a.T(0);
  t.clamp_(a.optScalar(1), a.optScalar(2));
  return a.env.Undefined();
}
OP(sqrt_) {
  at::Tensor t = a.T(0);
  t.sqrt_();
  return a.env.Undefined();
}
OP(uniform_) {
  at::Tensor t = a.T(0);
  t.uniform_(a.D(1), a.D(2));
  return a.env.Undefined();
}
OP(normal_) {
  at::Tensor t = a.T(0);
  t.normal_(a.D(1), a.D(2));
  return a.env.Undefined();
}
OP(maskedFill_) {
  at::Tensor t = a.T(0);
  t.masked_fill_(a.T(1), a.scalar(2));
  return a.env.Undefined();
}

// ---------------------------------------------------------------- neural-network functions

OP(conv2d) { RET(at::conv2d(a.T(0), a.T(1), a.optT(2), a.ints(3), a.ints(4), a.ints(5), a.I(6))); }
OP(convTranspose2d) {
  RET(at::conv_transpose2d(a.T(0), a.T(1), a.optT(2), a.ints(3), a.ints(4), a.ints(5), a.I(6), a.ints(7)));
}
OP(linear) { RET(at::linear(a.T(0), a.T(1), a.optT(2))); }
OP(groupNorm) { RET(at::group_norm(a.T(0), a.I(1), a.optT(2), a.optT(3), a.D(4))); }
OP(layerNorm) { RET(at::layer_norm(a.T(0), a.ints(1), a.optT(2), a.optT(3), a.D(4))); }
OP(softmax) { RET(at::softmax(a.T(0), a.I(1))); }
OP(logSoftmax) { RET(at::log_softmax(a.T(0), a.I(1))); }
OP(dropout) { RET(at::dropout(a.T(0), a.D(1), a.B(2))); }
// upsample…(x, size, alignCorners?, scaleH|null, scaleW|null): with scales given, sampling uses
// 1/scale as PyTorch's F.interpolate(scale_factor=…) does, not in/out.
c10::optional<double> optD(const Args& a, size_t i) { return a.isNull(i) ? c10::optional<double>() : c10::optional<double>(a.D(i)); }
OP(upsampleNearest2d) { RET(at::upsample_nearest2d(a.T(0), a.ints(1), optD(a, 2), optD(a, 3))); }
OP(upsampleBilinear2d) { RET(at::upsample_bilinear2d(a.T(0), a.ints(1), a.B(2), optD(a, 3), optD(a, 4))); }
OP(avgPool2d) { RET(at::avg_pool2d(a.T(0), a.ints(1), a.ints(2), a.ints(3))); }
OP(maxPool2d) { RET(at::max_pool2d(a.T(0), a.ints(1), a.ints(2), a.ints(3))); }
OP(embedding) { RET(at::embedding(a.T(0), a.T(1))); }
OP(mseLoss) { RET(at::mse_loss(a.T(0), a.T(1), a.I(2))); }
OP(crossEntropy) { RET(at::cross_entropy_loss(a.T(0), a.T(1), {}, a.I(2), a.I(3), a.D(4))); }
OP(bceWithLogits) { RET(at::binary_cross_entropy_with_logits(a.T(0), a.T(1), {}, {}, a.I(2))); }

// ---------------------------------------------------------------- autograd

OP(requiresGrad) { return Napi::Boolean::New(a.env, a.T(0).requires_grad()); }
OP(setRequiresGrad) {
  at::Tensor t = a.T(0);
  t.set_requires_grad(a.B(1));
  return a.env.Undefined();
}
OP(isLeaf) { return Napi::Boolean::New(a.env, a.T(0).is_leaf()); }
OP(grad) { RET(a.T(0).grad()); }
OP(setGrad) {
  at::Tensor t = a.T(0);
  if (!a.isNull(1)) {
    const at::Tensor& g = a.T(1);
    if (!g.sizes().equals(t.sizes()) || g.scalar_type() != t.scalar_type() || g.device() != t.device()) {
      throw ArgError("assigned grad " + describeTensor(g) + " must match the tensor " + describeTensor(t) + " in shape, dtype and device");
    }
  }
  t.mutable_grad() = a.isNull(1) ? at::Tensor() : a.T(1);
  return a.env.Undefined();
}
OP(retainGrad) {
  a.T(0).retain_grad();
  return a.env.Undefined();
}
OP(backward) {
  const at::Tensor& t = a.T(0);
  c10::optional<at::Tensor> g = a.optT(1);
  t.backward(g ? *g : at::Tensor(), a.isNull(2) ? c10::optional<bool>() : c10::optional<bool>(a.B(2)), a.B(3));
  return a.env.Undefined();
}
// autogradGrad(outputs, inputs, gradOutputs|null, retainGraph|null, createGraph, allowUnused)
OP(autogradGrad) {
  std::vector<at::Tensor> gradOuts = a.isNull(2) ? std::vector<at::Tensor>{} : a.tensors(2);
  auto r = torch::autograd::grad(a.tensors(0), a.tensors(1), gradOuts,
                                 a.isNull(3) ? c10::optional<bool>() : c10::optional<bool>(a.B(3)), a.B(4), a.B(5));
  return wrapList(a.env, r);
}
OP(detach) { RET(a.T(0).detach()); }
OP(setGradEnabled) {
  const bool prev = at::GradMode::is_enabled();
  at::GradMode::set_enabled(a.B(0));
  return Napi::Boolean::New(a.env, prev);
}
OP(isGradEnabled) { return Napi::Boolean::New(a.env, at::GradMode::is_enabled()); }

// ---------------------------------------------------------------- random number generators

at::Generator generatorFor(const at::Device& d) {
  return at::globalContext().defaultGenerator(d);
}
OP(manualSeed) {
  const uint64_t seed = static_cast<uint64_t>(a.D(0));
  {
    auto g = generatorFor(at::Device(at::kCPU));
    std::lock_guard<std::mutex> lock(g.mutex());
    g.set_current_seed(seed);
  }
  if (at::hasCUDA()) {
    const int n = at::detail::getCUDAHooks().getNumGPUs();
    for (int i = 0; i < n; i++) {
      auto g = generatorFor(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(i)));
      std::lock_guard<std::mutex> lock(g.mutex());
      g.set_current_seed(seed);
    }
  }
  return a.env.Undefined();
}
// getRngState(device): the generator's state as bytes (a copy).
OP(getRngState) {
  auto g = generatorFor(a.device(0));
  at::Tensor s;
  {
    std::lock_guard<std::mutex> lock(g.mutex());
    s = g.get_state().contiguous();
  }
  const size_t n = static_cast<size_t>(s.numel()) * s.element_size();
  auto buf = Napi::ArrayBuffer::New(a.env, n);
  if (n) std::memcpy(buf.Data(), s.data_ptr(), n);
  return buf;
}
OP(setRngState) {
  auto g = generatorFor(a.device(0));
  if (!a.info[1].IsTypedArray()) throw ArgError("argument 1 must be a Uint8Array");
  auto ta = a.info[1].As<Napi::TypedArray>();
  at::Tensor s = at::empty({static_cast<int64_t>(ta.ByteLength())}, at::TensorOptions().dtype(at::kByte));
  std::memcpy(s.data_ptr(), static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset(), ta.ByteLength());
  std::lock_guard<std::mutex> lock(g.mutex());
  g.set_state(s);
  return a.env.Undefined();
}

// ---------------------------------------------------------------- registration

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData<Table>(new Table());  // deleted, with every tensor left in it, when env exits
#define REG(name) exports.Set(#name, Napi::Function::New(env, guard<op_##name>, #name, const_cast<char*>(#name)))
  REG(dispose); REG(isAlive); REG(shape); REG(dtype); REG(device); REG(isContiguous); REG(memory); REG(version);
  REG(setNumThreads); REG(getNumThreads);
  REG(zeros); REG(ones); REG(empty); REG(full); REG(arange); REG(linspace); REG(randn); REG(rand); REG(randint);
  REG(randperm); REG(multinomial); REG(fromBuffer); REG(toBuffer); REG(item); REG(to); REG(contiguous); REG(clone);
  REG(add); REG(sub); REG(mul); REG(div); REG(pow); REG(remainder); REG(fmod); REG(eq); REG(ne); REG(lt); REG(le);
  REG(gt); REG(ge); REG(addScalar); REG(subScalar); REG(mulScalar); REG(divScalar); REG(powScalar);
  REG(remainderScalar); REG(fmodScalar); REG(eqScalar); REG(neScalar); REG(ltScalar); REG(leScalar); REG(gtScalar);
  REG(geScalar); REG(rsub); REG(rdiv); REG(rpow); REG(maximum); REG(minimum); REG(atan2); REG(logicalAnd);
  REG(logicalOr); REG(logicalXor); REG(where); REG(clamp); REG(lerp);
  REG(neg); REG(abs); REG(exp); REG(log); REG(log2); REG(log1p); REG(expm1); REG(sqrt); REG(rsqrt); REG(sin); REG(cos);
  REG(tanh); REG(sigmoid); REG(relu); REG(silu); REG(logSigmoid); REG(sign); REG(floor); REG(ceil); REG(round);
  REG(trunc); REG(reciprocal); REG(square); REG(erf); REG(logicalNot); REG(isnan); REG(isinf); REG(isfinite);
  REG(gelu); REG(softplus); REG(leakyRelu);
  REG(sum); REG(mean); REG(prod); REG(amax); REG(amin); REG(maxAll); REG(minAll); REG(maxDim); REG(minDim);
  REG(argmax); REG(argmin); REG(std); REG(var); REG(logsumexp); REG(all); REG(any); REG(cumsum); REG(norm);
  REG(topk); REG(sort);
  REG(reshape); REG(view); REG(permute); REG(transpose); REG(flatten); REG(squeeze); REG(unsqueeze); REG(expand);
  REG(repeat); REG(cat); REG(stack); REG(split); REG(chunk); REG(narrow); REG(slice); REG(select); REG(indexSelect);
  REG(gather); REG(scatter); REG(scatterAdd); REG(maskedFill); REG(index); REG(flip); REG(roll); REG(tril); REG(triu);
  REG(oneHot); REG(repeatInterleave);
  REG(matmul); REG(bmm); REG(mm);
  REG(add_); REG(sub_); REG(mul_); REG(div_); REG(addScalar_); REG(subScalar_); REG(mulScalar_); REG(divScalar_); REG(addcmul_); REG(addcdiv_); REG(lerp_); REG(copy_); REG(zero_);
  REG(fill_); REG(clamp_); REG(sqrt_); REG(uniform_); REG(normal_); REG(maskedFill_);
  REG(conv2d); REG(convTranspose2d); REG(linear); REG(groupNorm); REG(layerNorm); REG(softmax); REG(logSoftmax);
  REG(dropout); REG(upsampleNearest2d); REG(upsampleBilinear2d); REG(avgPool2d); REG(maxPool2d); REG(embedding);
  REG(mseLoss); REG(crossEntropy); REG(bceWithLogits);
  REG(requiresGrad); REG(setRequiresGrad); REG(isLeaf); REG(grad); REG(setGrad); REG(retainGrad); REG(backward);
  REG(autogradGrad); REG(detach); REG(setGradEnabled); REG(isGradEnabled);
  REG(manualSeed); REG(getRngState); REG(setRngState);
#undef REG
  sharpenRegisterDistributed(env, exports);
  sharpenRegisterDevice(env, exports);
  return exports;
}

}  // namespace

// For distributed.cc (the c10d bindings): the handle table's reading and wrapping.
at::Tensor sharpenTensorArg(Napi::Env env, const Napi::Value& v, const std::string& what) { return tensorOf(env, v, what); }
Napi::Value sharpenWrap(Napi::Env env, at::Tensor t) { return wrap(env, std::move(t)); }

NODE_API_MODULE(sharpen_native, Init)
