// Devices and mixed precision for the addon: moving a tensor to another device in place (so that
// a module's parameters keep their handles, as torch.nn.Module.to does with param.data) and
// autocast (bf16 mixed precision on CPU or CUDA). As in addon.cc, each function converts its
// arguments, calls libtorch and returns; every exception becomes a JS exception.
//
// libtorch 2.4 replaced the per-device autocast setters (set_cpu_enabled, set_autocast_cpu_dtype,
// set_enabled, set_autocast_gpu_dtype) by set_autocast_enabled/set_autocast_dtype(device type, …);
// both are handled here with the version macros.

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <torch/csrc/api/include/torch/version.h>
#include <napi.h>

#include <string>

at::Tensor sharpenTensorArg(Napi::Env env, const Napi::Value& v, const std::string& what);

namespace {

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define SHARPEN_AUTOCAST_BY_DEVICE 1
#endif

// An op: a function of the JS call's arguments (registered with REG below, declared in src/torch/native.ts).
#define OP(name) Napi::Value op_##name(const Napi::CallbackInfo& info)

at::ScalarType autocastDtype(const std::string& d) {
  if (d == "bfloat16") return at::kBFloat16;
  if (d == "float16") return at::kHalf;
  throw std::runtime_error("autocast dtype must be 'bfloat16' or 'float16', got '" + d + "'");
}

bool isCuda(const std::string& device) {
  if (device == "cpu") return false;
  if (device == "cuda") return true;
  throw std::runtime_error("autocast device must be 'cpu' or 'cuda', got '" + device + "'");
}

bool autocastEnabled(bool cuda) {
#ifdef SHARPEN_AUTOCAST_BY_DEVICE
  return at::autocast::is_autocast_enabled(cuda ? at::kCUDA : at::kCPU);
#else
  return cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

// setData(t, src): t's data becomes src's (shape, dtype, device), keeping t itself (its handle,
// requires_grad and identity for the optimizer).
OP(setData) {
  at::Tensor t = sharpenTensorArg(info.Env(), info[0], "argument 0");
  const at::Tensor src = sharpenTensorArg(info.Env(), info[1], "argument 1");
  t.set_data(src);
  return info.Env().Undefined();
}

// setAutocast(device, enabled, dtype): returns whether it was enabled before; leaving clears the cast cache.
OP(setAutocast) {
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsBoolean() || !info[2].IsString()) {
    throw std::runtime_error("setAutocast(device: string, enabled: boolean, dtype: string)");
  }
  const bool cuda = isCuda(info[0].As<Napi::String>().Utf8Value());
  const bool on = info[1].As<Napi::Boolean>().Value();
  const at::ScalarType dtype = autocastDtype(info[2].As<Napi::String>().Utf8Value());
  const bool prev = autocastEnabled(cuda);
#ifdef SHARPEN_AUTOCAST_BY_DEVICE
  const at::DeviceType dt = cuda ? at::kCUDA : at::kCPU;
  at::autocast::set_autocast_dtype(dt, dtype);
  at::autocast::set_autocast_enabled(dt, on);
#else
  if (cuda) {
    at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(on);
  } else {
    at::autocast::set_autocast_cpu_dtype(dtype);
    at::autocast::set_cpu_enabled(on);
  }
#endif
  if (!on) at::autocast::clear_cache();
  return Napi::Boolean::New(info.Env(), prev);
}

OP(isAutocast) {
  if (info.Length() < 1 || !info[0].IsString()) throw std::runtime_error("isAutocast(device: string)");
  return Napi::Boolean::New(info.Env(), autocastEnabled(isCuda(info[0].As<Napi::String>().Utf8Value())));
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
    throw Napi::Error::New(info.Env(), std::string(name) + ": " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string(name) + ": " + e.what());
  }
}

}  // namespace

void sharpenRegisterDevice(Napi::Env env, Napi::Object exports) {
#define REG(name) exports.Set(#name, Napi::Function::New(env, guarded<op_##name>, #name, const_cast<char*>(#name)))
  REG(setData); REG(setAutocast); REG(isAutocast);
#undef REG
}
