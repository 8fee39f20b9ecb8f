// The encoder's trunk on libtorch (ATen + oneDNN), for the CPU backends: the
// conv stack and the dense layers that read its flattened output.
//
// Same math as agents/networks.ts: VALID 3x3 convs, stride 2 then 1, ReLU after
// every conv, the 1/255 pixel scaling folded into the first filter, features
// flattened in NHWC order, then x @ W + b per head. Tensors are NCHW logically
// and channels_last in memory, which is NHWC bytes: tfjs' layouts cross the
// boundary without a transpose, and oneDNN's fastest CPU conv path takes them
// as they are. A dense layer over the flattened features is a VALID conv whose
// kernel covers the whole feature map, so oneDNN runs it too (libtorch's own
// matmul would go to whatever BLAS the system has, which may be the slow
// reference one).
//
// Precision (the constructor's `precision`): 'fp32', or 'bf16', where the convs
// and the heads take bf16 inputs and weights and oneDNN accumulates in fp32.
// Pixels (integers 0..255) are exact in bf16; the weights are converted from
// the caller's fp32 values on every pass, so the master weights stay fp32 on
// the caller's side; the kept activations are bf16 (half the memory); every
// array handed back, head outputs and gradients, is fp32.
//
// Every pass runs on a libuv pool thread and settles a Promise, so the agent's
// thread stays free for signals and progress between passes.
//
// Builds against libtorch 1.13 to 2.x: where their APIs differ, the code takes a
// form both accept, or TORCH_VERSION_* (torch/version.h) picks one.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/GradMode.h>
#include <napi.h>
#include <torch/version.h>

#define CURL_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

// at::cpu::get_cpu_capabilities(), the CPU feature query that 2.13 has (the newest this is built and tested on)
#if CURL_TORCH_AT_LEAST(2, 13)
#include <ATen/cpu/Utils.h>
#endif

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

constexpr int64_t kKernel = 3;

int64_t StrideOf(size_t layer) { return layer == 0 ? 2 : 1; }

// An update allocates the same large buffers (activations, their gradients)
// in the same sizes every time. glibc returns such blocks to the kernel on
// free (mmap, or a trimmed heap, and always on a pool thread's arena), so every
// pass paid tens of thousands of page faults: a third of a conv pass. Freed
// large blocks are kept by size and handed out again instead.
class CachingCpuAllocator final : public c10::Allocator {
 public:
  static constexpr size_t kMinCached = 1 << 16;
  static constexpr size_t kMaxCachedBytes = size_t{2} << 30;
  static constexpr size_t kAlignment = 64;

// libtorch 2.3 made allocate() non-const (pytorch/pytorch#120969).
#if CURL_TORCH_AT_LEAST(2, 3)
  c10::DataPtr allocate(size_t n) override {
#else
  c10::DataPtr allocate(size_t n) const override {
#endif
    void* p = nullptr;
    if (n >= kMinCached) {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(n);
      if (it != free_.end()) {
        p = it->second;
        free_.erase(it);
        cached_ -= n;
      }
    }
    if (!p && n > 0) {
      if (posix_memalign(&p, kAlignment, n) != 0) throw std::bad_alloc();
      if (n >= kMinCached) {
        std::lock_guard<std::mutex> lock(mutex_);
        sizes_[p] = n;
      }
    }
    return {p, p, &Delete, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &Delete; }
  // Pure virtual in libtorch 2.x (Allocator::clone copies a block through it), absent in 1.13:
  // declared without `override` so that both accept it.
  void copy_data(void* dest, const void* src, std::size_t count) const { std::memcpy(dest, src, count); }

  static CachingCpuAllocator& Instance() {
    static auto* instance = new CachingCpuAllocator();  // never destroyed: tensors may outlive static teardown
    return *instance;
  }

 private:
  static void Delete(void* p) {
    if (!p) return;
    auto& self = Instance();
    {
      std::lock_guard<std::mutex> lock(self.mutex_);
      auto it = self.sizes_.find(p);
      if (it != self.sizes_.end()) {
        if (self.cached_ + it->second <= kMaxCachedBytes) {
          self.free_.emplace(it->second, p);
          self.cached_ += it->second;
          return;
        }
        self.sizes_.erase(it);
      }
    }
    free(p);
  }

  mutable std::mutex mutex_;
  mutable std::multimap<size_t, void*> free_;
  mutable std::map<void*, size_t> sizes_;
  mutable size_t cached_ = 0;
};

// Parameters and activations are all in the engine's compute type (float or bfloat16).
// The x86 features that decide how oneDNN runs bf16.
struct CpuFeatures {
  bool known = false;
  bool avx512Bf16 = false;  // bf16 dot products in AVX-512 registers
  bool amxBf16 = false;     // bf16 matrix tiles (Sapphire Rapids and later)
  bool avx512Core = false;  // AVX-512 F, BW, VL and DQ: what oneDNN's bf16 kernels need to convert in registers
  std::string from;
};

#if CURL_TORCH_AT_LEAST(2, 13)
// libtorch's own cpuinfo query: what its dispatch and its oneDNN see.
CpuFeatures ReadCpuFeatures() {
  std::set<std::string> on;
  for (const auto& [name, value] : at::cpu::get_cpu_capabilities()) {
    if (value.isBool() && value.toBool()) on.insert(name);
  }
  auto has = [&](const char* name) { return on.count(name) > 0; };
  return {true, has("avx512_bf16"), has("amx_bf16"), has("avx512_f") && has("avx512_bw") && has("avx512_vl") && has("avx512_dq"),
          "libtorch's at::cpu::get_cpu_capabilities()"};
}
#else
// libtorch 1.13 has no CPU feature query in its API (its cpuinfo and oneDNN are libraries of their own,
// without headers in libtorch-dev): the kernel's flags, which also say the OS enabled the registers.
CpuFeatures ReadCpuFeatures() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::set<std::string> on;
    std::istringstream words(line.substr(line.find(':') + 1));
    for (std::string w; words >> w;) on.insert(w);
    auto has = [&](const char* name) { return on.count(name) > 0; };
    return {true, has("avx512_bf16"), has("amx_bf16"), has("avx512f") && has("avx512bw") && has("avx512vl") && has("avx512dq"),
            "/proc/cpuinfo"};
  }
  return {false, false, false, false, "/proc/cpuinfo (unreadable)"};
}
#endif

struct Bf16 {
  std::string level;  // native | emulated | unsupported
  std::string why;
};

// How this libtorch would run a bf16 pass here, decided once.
const Bf16& Bf16Support() {
  static const Bf16 support = [] {
    if (!at::hasMKLDNN()) return Bf16{"unsupported", "this libtorch has no oneDNN"};
    const auto cpu = ReadCpuFeatures();
    if (!cpu.known) return Bf16{"unsupported", "no CPU features to read: " + cpu.from};
    if (cpu.avx512Bf16 || cpu.amxBf16) {
      return Bf16{"native", std::string(cpu.avx512Bf16 ? "avx512_bf16" : "") + (cpu.avx512Bf16 && cpu.amxBf16 ? " and " : "") +
                                (cpu.amxBf16 ? "amx_bf16" : "") + ", per " + cpu.from};
    }
    if (cpu.avx512Core) return Bf16{"emulated", "no avx512_bf16 or amx_bf16 but AVX-512, per " + cpu.from + ": oneDNN converts to fp32 in registers"};
    return Bf16{"unsupported", "no AVX-512, per " + cpu.from + ": bf16 convs would run on libtorch's reference kernels"};
  }();
  return support;
}

// Where a bf16 engine computes the first layer's filter gradient when the caller leaves it to the engine
// ('auto'): in bf16 on AMX, whose oneDNN kernel (brgconv_bwd_w) stays fast with the cores shared
// (4-13 ms at batch 128 beside a training run, against 17-40 ms in fp32, oneDNN of libtorch 1.13 and
// 2.13 alike); in fp32 elsewhere, since the avx512_bf16 kernel collapses when the cores are shared.
bool FirstFilterGradInBf16ByDefault() {
  static const bool amx = ReadCpuFeatures().amxBf16;
  return amx;
}

struct ConvParams {
  std::vector<at::Tensor> w;  // [Cout, Cin, 3, 3], channels_last; layer 0 pre-scaled by 1/255
  std::vector<at::Tensor> b;  // [Cout]
};

// A dense head over the flattened features, as a conv: [L, C, H, W] channels_last.
struct Head {
  at::Tensor w;
  at::Tensor b;
};

// What a backward pass needs of a forward pass that kept its activations.
struct Kept {
  at::Tensor input;              // pixels in the compute type, [N, C, H, W] channels_last
  std::vector<at::Tensor> acts;  // post-ReLU output of every layer
};

// Pixels (rows x height x width) a thread must have before a pass is split further. Small
// passes (tests, tiny crops) run on one thread: OpenMP's fork/join per op costs more than
// it saves there, and on a busy machine every barrier may wait a scheduler slice (a tiny
// update measured 17x slower on 2 threads than on 1 at a load average of 12).
constexpr int64_t kPixelsPerThread = 32768;

struct State {
  int64_t height = 0, width = 0, channels = 0, layers = 0;
  int threads = 1;
  at::ScalarType compute = at::kFloat;       // kFloat (fp32) or kBFloat16 (bf16)
  bool firstFilterGradInFloat = false;       // bf16 only: the first layer's filter gradient in fp32 (see Backward)
  std::map<std::string, at::Tensor> bytes;   // uint8 [N, C, H, W] channels_last, as loaded
  std::map<std::string, at::Tensor> inputs;  // the same in the compute type, converted on first use, read-only after
  std::map<std::string, Kept> kept;          // by slot
  std::atomic<bool> busy{false};

  int ThreadsFor(int64_t rows) const {
    const int64_t useful = std::max<int64_t>(1, rows * height * width / kPixelsPerThread);
    return static_cast<int>(std::min<int64_t>(threads, useful));
  }
};

class BusyGuard {
 public:
  explicit BusyGuard(State* s) : s_(s) {}
  ~BusyGuard() { s_->busy = false; }

 private:
  State* s_;
};

at::Tensor ChannelsLast(const at::Tensor& t) { return t.contiguous(at::MemoryFormat::ChannelsLast); }

// A float tensor in the compute type: itself in fp32, so that path runs exactly the ops it always ran.
at::Tensor ToCompute(const at::Tensor& t, at::ScalarType compute) { return compute == at::kFloat ? t : t.to(compute); }

// What goes back to the caller is float; a float tensor is returned as it is.
at::Tensor ToFloat(const at::Tensor& t) { return t.scalar_type() == at::kFloat ? t : t.to(at::kFloat); }

bool IsFloat32Array(const Napi::Value& v) { return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array; }

// A float copy of the caller's Float32Array (the JS buffer may change once the call returns).
at::Tensor CopyFloats(const Napi::Env& env, const Napi::Value& v, at::IntArrayRef shape, const std::string& what) {
  if (!IsFloat32Array(v)) throw Napi::TypeError::New(env, "conv engine: " + what + " must be a Float32Array");
  auto a = v.As<Napi::Float32Array>();
  auto t = at::empty(shape, at::kFloat);
  if (static_cast<size_t>(t.numel()) != a.ElementLength()) {
    throw Napi::RangeError::New(env, "conv engine: " + what + " has " + std::to_string(a.ElementLength()) + " values, expected " + std::to_string(t.numel()));
  }
  std::memcpy(t.data_ptr<float>(), a.Data(), a.ByteLength());
  return t;
}

int64_t OutputSide(int64_t side, int64_t layers) {
  side = (side - kKernel) / 2 + 1;
  for (int64_t l = 1; l < layers; l++) side -= kKernel - 1;
  return side;
}

// tfjs filters are [kh, kw, Cin, Cout]; libtorch wants [Cout, Cin, kh, kw].
ConvParams ReadConv(const Napi::Env& env, const Napi::Value& wv, const Napi::Value& bv, const State& s, int64_t filters) {
  if (!wv.IsArray() || !bv.IsArray()) throw Napi::TypeError::New(env, "conv engine: conv weights and biases must be arrays of Float32Array");
  auto wa = wv.As<Napi::Array>();
  auto ba = bv.As<Napi::Array>();
  if (wa.Length() != static_cast<uint32_t>(s.layers) || ba.Length() != static_cast<uint32_t>(s.layers)) {
    throw Napi::RangeError::New(env, "conv engine: expected " + std::to_string(s.layers) + " conv weights and biases");
  }
  ConvParams p;
  int64_t cin = s.channels;
  for (uint32_t l = 0; l < wa.Length(); l++) {
    const auto name = "layer " + std::to_string(l);
    auto hwio = CopyFloats(env, wa[l], {kKernel, kKernel, cin, filters}, name + " weights");
    auto w = ChannelsLast(hwio.permute({3, 2, 0, 1}));
    if (l == 0) w = ChannelsLast(w * (1.0f / 255.0f));  // scaled in fp32, then rounded once to the compute type
    p.w.push_back(ChannelsLast(ToCompute(w, s.compute)));
    p.b.push_back(ToCompute(CopyFloats(env, ba[l], {filters}, name + " bias"), s.compute));
    cin = filters;
  }
  return p;
}

// dst[c * rows + r] = src[r * cols + c], in cache-sized tiles over both threads: a dense head's
// weight is [F, L] in tfjs and [L, F] as a channels_last conv, 8 MB at the paper's sizes, and
// ATen's strided copy of that transpose took as long as a conv layer.
void Transpose(const float* src, float* dst, int64_t rows, int64_t cols) {
  constexpr int64_t kTile = 64;
  at::parallel_for(0, (rows + kTile - 1) / kTile, 1, [&](int64_t begin, int64_t end) {
    for (int64_t rt = begin; rt < end; rt++) {
      const int64_t r1 = std::min(rows, (rt + 1) * kTile);
      for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
        const int64_t c1 = std::min(cols, c0 + kTile);
        for (int64_t r = rt * kTile; r < r1; r++)
          for (int64_t c = c0; c < c1; c++) dst[c * rows + r] = src[r * cols + c];
      }
    }
  });
}

// tfjs' dense weight is [F, L] with F in NHWC order; as a conv it is [L, C, H, W] channels_last, i.e. [L, F].
// A head prepared earlier (prepareHead) arrives as an External and is used as it is.
Head ReadHead(const Napi::Env& env, const Napi::Value& v, int64_t side, int64_t filters, at::ScalarType compute) {
  if (v.IsExternal()) {
    const Head& h = *v.As<Napi::External<Head>>().Data();
    if (h.w.size(1) != filters || h.w.size(2) != side) throw Napi::RangeError::New(env, "conv engine: a prepared head of another engine's shape");
    if (h.w.scalar_type() != compute) throw Napi::RangeError::New(env, "conv engine: a prepared head of another engine's precision");
    return h;
  }
  if (!v.IsObject()) throw Napi::TypeError::New(env, "conv engine: a head is {w: Float32Array [F, L], b: Float32Array [L]}");
  auto o = v.As<Napi::Object>();
  Napi::Value bv = o.Get("b");
  Napi::Value wv = o.Get("w");
  if (!IsFloat32Array(bv)) throw Napi::TypeError::New(env, "conv engine: head bias must be a Float32Array");
  if (!IsFloat32Array(wv)) throw Napi::TypeError::New(env, "conv engine: head weights must be a Float32Array");
  const int64_t latent = static_cast<int64_t>(bv.As<Napi::Float32Array>().ElementLength());
  const int64_t features = side * side * filters;
  auto wa = wv.As<Napi::Float32Array>();
  if (static_cast<int64_t>(wa.ElementLength()) != features * latent) {
    throw Napi::RangeError::New(env, "conv engine: head weights has " + std::to_string(wa.ElementLength()) + " values, expected " +
                                         std::to_string(features * latent));
  }
  auto w = at::empty({latent, filters, side, side}, at::TensorOptions(at::kFloat).memory_format(at::MemoryFormat::ChannelsLast));
  Transpose(wa.Data(), w.data_ptr<float>(), features, latent);
  return {ChannelsLast(ToCompute(w, compute)), ToCompute(CopyFloats(env, bv, {latent}, "head bias"), compute)};
}

std::vector<Head> ReadHeads(const Napi::Env& env, const Napi::Value& v, int64_t side, int64_t filters, at::ScalarType compute) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, "conv engine: heads must be an array");
  auto a = v.As<Napi::Array>();
  std::vector<Head> heads;
  for (uint32_t i = 0; i < a.Length(); i++) heads.push_back(ReadHead(env, a[i], side, filters, compute));
  return heads;
}

// ReLU in place. A bf16 value is negative exactly when its bits, read as an int16, are, so in bf16
// the ReLU is an integer max with 0 on those bits: ATen's bf16 kernels widen every value to fp32 and
// back, and on CPUs where ATen dispatches to AVX2 (libtorch 1.13 to 2.13 on Intel with AVX-512 alike)
// that took a sixth of a bf16 update's CPU time (perf). Same values; only a NaN with its sign bit set
// becomes 0 instead of staying NaN.
void ReluInPlace(at::Tensor& a) {
  if (a.scalar_type() == at::kBFloat16) {
    a.view(at::kShort).clamp_min_(0);
  } else {
    at::relu_(a);
  }
}

// The ReLU's backward from its output: d where out > 0, else 0; in bf16 on the int16 bits, as above
// (out > 0 as a bf16 exactly when out > 0 as an int16: its output holds no negative values).
at::Tensor ReluBackward(const at::Tensor& d, const at::Tensor& out) {
  if (d.scalar_type() == at::kBFloat16 && out.scalar_type() == at::kBFloat16) {
    return at::threshold_backward(d.view(at::kShort), out.view(at::kShort), 0).view(at::kBFloat16);
  }
  return at::threshold_backward(d, out, 0);
}

// Forward through the stack; acts, when given, receives every layer's output.
at::Tensor RunStack(const at::Tensor& x, const ConvParams& p, std::vector<at::Tensor>* acts) {
  at::Tensor a = x;
  for (size_t l = 0; l < p.w.size(); l++) {
    a = at::convolution(a, p.w[l], p.b[l], {StrideOf(l), StrideOf(l)}, {0, 0}, {1, 1}, false, {0, 0}, 1);
    ReluInPlace(a);
    if (acts) acts->push_back(a);
  }
  return a;
}

at::Tensor ApplyHead(const at::Tensor& h, const Head& head) {
  return at::convolution(h, head.w, head.b, {1, 1}, {0, 0}, {1, 1}, false, {0, 0}, 1).reshape({h.size(0), head.w.size(0)});
}

Napi::Float32Array ToArray(Napi::Env env, const at::Tensor& t) {
  auto c = t.contiguous();
  auto arr = Napi::Float32Array::New(env, c.numel());
  std::memcpy(arr.Data(), c.data_ptr<float>(), c.numel() * sizeof(float));
  return arr;
}

}  // namespace

// The MLP heads and Adam (synchronous kernels on the same libtorch), after the helpers they share.
#include "head_kernels.h"

namespace {

// Runs work on a pool thread; resolves with make(env) on the agent's thread.
class Pass : public Napi::AsyncWorker {
 public:
  using Work = std::function<void()>;
  using Make = std::function<Napi::Value(Napi::Env)>;
  Pass(Napi::Env env, std::shared_ptr<State> state, int threads, Work work, Make make)
      : Napi::AsyncWorker(env), state_(std::move(state)), threads_(threads), work_(std::move(work)), make_(std::move(make)),
        deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    BusyGuard guard(state_.get());
    try {
      // The thread count is per calling thread under OpenMP: set it on the pool thread that runs the pass,
      // and only when it changes (at::set_num_threads also rebuilds libtorch's pthreadpool).
      thread_local int current = -1;
      if (current != threads_) {
        at::set_num_threads(threads_);
        current = threads_;
      }
      c10::NoGradGuard no_grad;
      work_();
    } catch (const std::exception& e) {
      SetError(std::string("conv engine (libtorch): ") + e.what());
    }
  }
  void OnOK() override {
    try {
      deferred_.Resolve(make_(Env()));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (const std::exception& e) {
      deferred_.Reject(Napi::Error::New(Env(), e.what()).Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  std::shared_ptr<State> state_;
  int threads_;
  Work work_;
  Make make_;
  Napi::Promise::Deferred deferred_;
};

class ConvEngine : public Napi::ObjectWrap<ConvEngine> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ConvEngine",
                       {
                           InstanceMethod("load", &ConvEngine::Load),
                           InstanceMethod("forward", &ConvEngine::Forward),
                           InstanceMethod("backward", &ConvEngine::Backward),
                           InstanceMethod("release", &ConvEngine::Release),
                           InstanceMethod("prepareHead", &ConvEngine::PrepareHead),
                           InstanceAccessor("threads", &ConvEngine::Threads, nullptr),
                           InstanceAccessor("precision", &ConvEngine::Precision, nullptr),
                           InstanceAccessor("firstFilterGradient", &ConvEngine::FirstFilterGradient, nullptr),
                       });
  }

  explicit ConvEngine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ConvEngine>(info), s_(std::make_shared<State>()) {
    auto env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "ConvEngine({height, width, channels, layers, filters, threads})");
    auto o = info[0].As<Napi::Object>();
    auto field = [&](const char* name) {
      Napi::Value v = o.Get(name);
      if (!v.IsNumber() || v.As<Napi::Number>().Int64Value() < 1) {
        throw Napi::RangeError::New(env, std::string("ConvEngine: '") + name + "' must be a positive integer");
      }
      return v.As<Napi::Number>().Int64Value();
    };
    s_->height = field("height");
    s_->width = field("width");
    s_->channels = field("channels");
    s_->layers = field("layers");
    filters_ = field("filters");
    s_->threads = static_cast<int>(field("threads"));
    Napi::Value precision = o.Get("precision");
    const std::string name = precision.IsUndefined() ? "fp32" : precision.IsString() ? precision.As<Napi::String>().Utf8Value() : "";
    if (name == "bf16") {
      const auto support = Bf16Support();
      if (support.level == "unsupported") {
        throw Napi::Error::New(env, "ConvEngine: precision 'bf16' is unsupported here (" + support.why + "); use 'fp32'");
      }
      s_->compute = at::kBFloat16;
    } else if (name != "fp32") {
      const auto got = precision.IsString() ? "'" + name + "'" : precision.ToString().Utf8Value();
      throw Napi::RangeError::New(env, "ConvEngine: 'precision' must be 'fp32' or 'bf16', got " + got);
    }
    Napi::Value firstGrad = o.Get("firstFilterGradient");
    const std::string firstName = firstGrad.IsUndefined() ? "auto" : firstGrad.IsString() ? firstGrad.As<Napi::String>().Utf8Value() : "";
    if (firstName != "auto" && firstName != "fp32" && firstName != "bf16") {
      const auto got = firstGrad.IsString() ? "'" + firstName + "'" : firstGrad.ToString().Utf8Value();
      throw Napi::RangeError::New(env, "ConvEngine: 'firstFilterGradient' must be 'auto', 'fp32' or 'bf16', got " + got);
    }
    if (firstName == "bf16" && s_->compute == at::kFloat) {
      throw Napi::RangeError::New(env, "ConvEngine: 'firstFilterGradient' 'bf16' needs precision 'bf16' (an fp32 engine computes every gradient in fp32)");
    }
    s_->firstFilterGradInFloat = s_->compute != at::kFloat && (firstName == "fp32" || (firstName == "auto" && !FirstFilterGradInBf16ByDefault()));
    if (s_->height != s_->width) throw Napi::RangeError::New(env, "ConvEngine: images must be square");
    side_ = OutputSide(s_->height, s_->layers);
    if (side_ < 1) throw Napi::RangeError::New(env, "ConvEngine: images are too small for the conv stack");
  }

 private:
  // JS is single-threaded: once idle here, nothing can start a pass before Claim().
  void EnsureIdle(Napi::Env env) {
    if (s_->busy) throw Napi::Error::New(env, "conv engine: a pass is already running (await each pass before the next)");
  }
  void Claim() { s_->busy = true; }

  // load({obs, next, pos}: Uint8Array HWC per row, rows): copies the batch's images; float buffers are reused across batches.
  Napi::Value Load(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    EnsureIdle(env);
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsNumber()) throw Napi::TypeError::New(env, "load(images, rows)");
    const int64_t rows = info[1].As<Napi::Number>().Int64Value();
    if (rows < 1) throw Napi::RangeError::New(env, "conv engine: rows must be >= 1");
    s_->bytes.clear();
    s_->inputs.clear();
    s_->kept.clear();
    auto images = info[0].As<Napi::Object>();
    auto keys = images.GetPropertyNames();
    const int64_t per = s_->height * s_->width * s_->channels;
    for (uint32_t i = 0; i < keys.Length(); i++) {
      auto key = keys.Get(i).ToString().Utf8Value();
      Napi::Value v = images.Get(key);
      if (v.IsUndefined()) continue;
      if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
        throw Napi::TypeError::New(env, "conv engine: '" + key + "' must be a Uint8Array");
      }
      auto u8 = v.As<Napi::Uint8Array>();
      if (static_cast<int64_t>(u8.ElementLength()) != rows * per) {
        throw Napi::RangeError::New(env, "conv tower: '" + key + "' has " + std::to_string(u8.ElementLength()) + " bytes, expected " +
                                             std::to_string(rows) + " x " + std::to_string(per));
      }
      auto nhwc = at::empty({rows, s_->height, s_->width, s_->channels}, at::kByte);
      std::memcpy(nhwc.data_ptr<uint8_t>(), u8.Data(), u8.ByteLength());
      s_->bytes[key] = nhwc.permute({0, 3, 1, 2});  // NCHW view of NHWC memory: channels_last
    }
    return env.Undefined();
  }

  std::string Key(Napi::Env env, const Napi::Value& v) {
    auto key = v.ToString().Utf8Value();
    if (!s_->bytes.count(key)) throw Napi::RangeError::New(env, "conv engine: no '" + key + "' images loaded for this batch");
    return key;
  }

  // forward(key, convW, convB, heads, keep: '' | slot) -> Promise<Float32Array[]>: each head's output [rows, L].
  // A kept slot holds the activations for backward(slot, ...).
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    if (info.Length() < 5) throw Napi::TypeError::New(env, "forward(key, convWeights, convBiases, heads, keep)");
    EnsureIdle(env);
    auto key = Key(env, info[0]);
    auto params = std::make_shared<ConvParams>(ReadConv(env, info[1], info[2], *s_, filters_));
    auto heads = std::make_shared<std::vector<Head>>(ReadHeads(env, info[3], side_, filters_, s_->compute));
    auto slot = info[4].ToString().Utf8Value();
    auto state = s_;
    auto outs = std::make_shared<std::vector<at::Tensor>>();
    if (!slot.empty()) state->kept.erase(slot);
    Claim();
    auto* pass = new Pass(
        env, state, state->ThreadsFor(state->bytes.at(key).size(0)),
        [state, key, params, heads, slot, outs]() {
          // converted once per batch and image set: obs and next each feed two passes
          auto it = state->inputs.find(key);
          at::Tensor x = it != state->inputs.end() ? it->second : (state->inputs[key] = state->bytes.at(key).to(state->compute));
          Kept kept;
          auto h = RunStack(x, *params, slot.empty() ? nullptr : &kept.acts);
          for (const auto& head : *heads) outs->push_back(ToFloat(ApplyHead(h, head)));
          if (!slot.empty()) {
            kept.input = x;
            state->kept[slot] = std::move(kept);
          }
        },
        [outs](Napi::Env e) -> Napi::Value {
          auto arr = Napi::Array::New(e, outs->size());
          for (uint32_t i = 0; i < outs->size(); i++) arr.Set(i, ToArray(e, (*outs)[i]));
          return arr;
        });
    auto promise = pass->Promise();
    pass->Queue();
    return promise;
  }

  // backward(slot, convW, convB, head, dOut: Float32Array [rows, L], conv: boolean)
  //   -> Promise<{headW, headB, w?: Float32Array[] (HWIO), b?: Float32Array[]}>
  // The head's gradients, and with conv the conv stack's too, from the slot's kept activations.
  Napi::Value Backward(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    if (info.Length() < 6) throw Napi::TypeError::New(env, "backward(slot, convWeights, convBiases, head, dOut, conv)");
    EnsureIdle(env);
    auto slot = info[0].ToString().Utf8Value();
    auto it = s_->kept.find(slot);
    if (it == s_->kept.end()) throw Napi::RangeError::New(env, "conv tower: backward of '" + slot + "' before its forward pass kept it");
    auto params = std::make_shared<ConvParams>(ReadConv(env, info[1], info[2], *s_, filters_));
    auto head = std::make_shared<Head>(ReadHead(env, info[3], side_, filters_, s_->compute));
    const int64_t rows = it->second.input.size(0);
    const int64_t latent = head->w.size(0);
    auto dout = CopyFloats(env, info[4], {rows, latent, 1, 1}, "head output gradient");
    const bool withConv = info[5].ToBoolean();
    auto state = s_;
    auto g = std::make_shared<std::map<std::string, std::vector<at::Tensor>>>();
    Claim();
    auto* pass = new Pass(
        env, state, state->ThreadsFor(rows),
        [state, slot, params, head, dout, withConv, g]() {
          const Kept& k = state->kept.at(slot);
          const auto& h = k.acts.back();
          const std::vector<int64_t> latent{head->b.size(0)};
          auto hg = at::convolution_backward(ToCompute(dout, state->compute), h, head->w, at::IntArrayRef(latent), {1, 1}, {0, 0}, {1, 1},
                                             false, {0, 0}, 1, {withConv, true, true});
          (*g)["headW"] = {ChannelsLast(ToFloat(std::get<1>(hg)))};  // [L, F] in memory; transposed to tfjs' [F, L] on the way out
          (*g)["headB"] = {ToFloat(std::get<2>(hg))};
          if (!withConv) return;
          const auto layers = params->w.size();
          std::vector<at::Tensor> gw(layers), gb(layers);
          at::Tensor d = std::get<0>(hg);
          for (int64_t l = static_cast<int64_t>(layers) - 1; l >= 0; l--) {
            d = ReluBackward(d, k.acts[l]);
            const auto& input = l == 0 ? k.input : k.acts[l - 1];
            const int64_t s = StrideOf(l);
            const std::vector<int64_t> bias{params->b[l].size(0)};
            // Without AMX the first layer's filter gradient in bf16 runs on a oneDNN kernel for its few input
            // channels (9 for three stacked RGB frames) that is fast on idle cores (6-7 ms at batch 128 against
            // 12 ms in fp32) but collapses when another process shares them (0.2-0.8 s against 27-32 ms in fp32,
            // oneDNN 2.6 and 3.12 alike), as beside a sweep's other runs, tests or an environment process. So
            // there it is computed in fp32 from the same values: the pixels and the bf16 output gradient convert
            // exactly, and the sum accumulates in fp32 as oneDNN's would. AMX's kernel keeps its speed under load
            // (FirstFilterGradInBf16ByDefault), and by default stays in bf16.
            const bool firstInFloat = l == 0 && state->compute != at::kFloat && state->firstFilterGradInFloat;
            auto grads = firstInFloat ? at::convolution_backward(ToFloat(d), ToFloat(input), ToFloat(params->w[0]), at::IntArrayRef(bias), {s, s},
                                                                 {0, 0}, {1, 1}, false, {0, 0}, 1, {false, true, true})
                                      : at::convolution_backward(d, input, params->w[l], at::IntArrayRef(bias), {s, s}, {0, 0}, {1, 1}, false,
                                                                 {0, 0}, 1, {l > 0, true, true});
            auto gwl = ToFloat(std::get<1>(grads));
            if (l == 0) gwl = gwl * (1.0f / 255.0f);  // chain rule through the folded scaling
            gw[l] = gwl.permute({2, 3, 1, 0}).contiguous();  // back to [kh, kw, Cin, Cout]
            gb[l] = ToFloat(std::get<2>(grads));
            if (l > 0) d = std::get<0>(grads);
          }
          (*g)["w"] = gw;
          (*g)["b"] = gb;
        },
        [g](Napi::Env e) -> Napi::Value {
          auto o = Napi::Object::New(e);
          for (const auto& [name, ts] : *g) {
            if (name == "headW") {
              const auto& gw = ts[0];
              auto arr = Napi::Float32Array::New(e, gw.numel());
              Transpose(gw.data_ptr<float>(), arr.Data(), gw.size(0), gw.numel() / gw.size(0));
              o.Set(name, arr);
              continue;
            }
            if (name == "headB") {
              o.Set(name, ToArray(e, ts[0]));
              continue;
            }
            auto arr = Napi::Array::New(e, ts.size());
            for (uint32_t l = 0; l < ts.size(); l++) arr.Set(l, ToArray(e, ts[l]));
            o.Set(name, arr);
          }
          return o;
        });
    auto promise = pass->Promise();
    pass->Queue();
    return promise;
  }

  // prepareHead({w, b}) -> an opaque head in the engine's layout, reusable by forward/backward while its
  // values stay the same (a tensor's values never change in tfjs, so the caller keys it by tensor).
  Napi::Value PrepareHead(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    if (info.Length() < 1) throw Napi::TypeError::New(env, "prepareHead({w, b})");
    auto* head = new Head(ReadHead(env, info[0], side_, filters_, s_->compute));
    return Napi::External<Head>::New(env, head, [](Napi::Env, Head* h) { delete h; });
  }

  Napi::Value Release(const Napi::CallbackInfo& info) {
    EnsureIdle(info.Env());
    s_->bytes.clear();
    s_->inputs.clear();
    s_->kept.clear();
    return info.Env().Undefined();
  }

  Napi::Value Threads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), s_->threads); }
  Napi::Value Precision(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), s_->compute == at::kBFloat16 ? "bf16" : "fp32");
  }

  // The precision the first layer's filter gradient is computed in, as resolved at construction.
  Napi::Value FirstFilterGradient(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), s_->compute == at::kBFloat16 && !s_->firstFilterGradInFloat ? "bf16" : "fp32");
  }

  std::shared_ptr<State> s_;
  int64_t filters_ = 0;
  int64_t side_ = 0;
};

Napi::Value Info(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto o = Napi::Object::New(env);
  o.Set("torchVersion", std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." + std::to_string(TORCH_VERSION_PATCH));
  o.Set("mkldnn", at::hasMKLDNN());
  o.Set("parallel", at::get_parallel_info());
  const auto bf16 = Bf16Support();
  o.Set("bf16", bf16.level);
  o.Set("bf16Why", bf16.why);
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  c10::SetCPUAllocator(&CachingCpuAllocator::Instance(), /*priority=*/1);
  exports.Set("ConvEngine", ConvEngine::Define(env));
  exports.Set("HeadKernels", HeadKernels::Define(env));
  exports.Set("info", Napi::Function::New(env, Info));
  return exports;
}

}  // namespace

NODE_API_MODULE(curl_conv, Init)
