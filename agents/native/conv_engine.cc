// The encoder's conv stack on libtorch (ATen + oneDNN), for the CPU backends.
//
// Same math as agents/networks.ts: VALID 3x3 convs, stride 2 then 1, ReLU after
// every conv, the 1/255 pixel scaling folded into the first filter, features
// flattened in NHWC order. Tensors are NCHW logically and channels_last in
// memory, which is NHWC bytes: tfjs' layout crosses the boundary without a
// transpose, and oneDNN's fastest CPU conv path takes it as is.
//
// Every pass runs on a libuv pool thread and settles a Promise, so the agent's
// thread stays free (signals, progress, and tfjs work between passes).

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <napi.h>
#include <torch/version.h>

#include <array>
#include <atomic>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace {

constexpr int64_t kKernel = 3;

int64_t StrideOf(size_t layer) { return layer == 0 ? 2 : 1; }

struct ConvParams {
  std::vector<at::Tensor> w;  // [Cout, Cin, 3, 3], channels_last; layer 0 pre-scaled by 1/255
  std::vector<at::Tensor> b;  // [Cout]
};

// What the backward pass of the last anchor() needs.
struct Kept {
  at::Tensor input;              // float pixels, [N, C, H, W] channels_last
  std::vector<at::Tensor> acts;  // post-ReLU output of every layer
};

struct State {
  int64_t height = 0, width = 0, channels = 0, layers = 0;
  int threads = 1;
  int64_t rows = 0;
  std::map<std::string, at::Tensor> images;  // uint8 [N, C, H, W] channels_last
  std::unique_ptr<Kept> kept;
  std::atomic<bool> busy{false};
};

// One pass at a time: the agent awaits each, and overlapping passes on the
// shared kept activations would be a bug on the caller's side.
class BusyGuard {
 public:
  explicit BusyGuard(State* s) : s_(s) {}
  ~BusyGuard() { s_->busy = false; }

 private:
  State* s_;
};

at::Tensor ChannelsLast(const at::Tensor& t) { return t.contiguous(at::MemoryFormat::ChannelsLast); }

// A float copy of the caller's Float32Array (the JS buffer may change once the call returns).
at::Tensor CopyFloats(const Napi::Float32Array& a, at::IntArrayRef shape) {
  auto t = at::empty(shape, at::kFloat);
  if (static_cast<size_t>(t.numel()) != a.ElementLength()) {
    throw std::runtime_error("expected " + std::to_string(t.numel()) + " floats, got " + std::to_string(a.ElementLength()));
  }
  std::memcpy(t.data_ptr<float>(), a.Data(), a.ByteLength());
  return t;
}

// tfjs filters are [kh, kw, Cin, Cout]; libtorch wants [Cout, Cin, kh, kw].
ConvParams ReadParams(const Napi::Env& env, const Napi::Value& wv, const Napi::Value& bv, const State& s) {
  if (!wv.IsArray() || !bv.IsArray()) throw Napi::TypeError::New(env, "conv engine: weights and biases must be arrays of Float32Array");
  auto wa = wv.As<Napi::Array>();
  auto ba = bv.As<Napi::Array>();
  if (wa.Length() != static_cast<uint32_t>(s.layers) || ba.Length() != static_cast<uint32_t>(s.layers)) {
    throw Napi::RangeError::New(env, "conv engine: expected " + std::to_string(s.layers) + " weights and biases");
  }
  ConvParams p;
  int64_t cin = s.channels;
  for (uint32_t l = 0; l < wa.Length(); l++) {
    Napi::Value wl = wa[l];
    Napi::Value bl = ba[l];
    if (!wl.IsTypedArray() || wl.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
        !bl.IsTypedArray() || bl.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      throw Napi::TypeError::New(env, "conv engine: layer " + std::to_string(l) + " weights/bias must be Float32Array");
    }
    auto bias = bl.As<Napi::Float32Array>();
    const int64_t cout = static_cast<int64_t>(bias.ElementLength());
    at::Tensor hwio;
    try {
      hwio = CopyFloats(wl.As<Napi::Float32Array>(), {kKernel, kKernel, cin, cout});
    } catch (const std::exception& e) {
      throw Napi::RangeError::New(env, "conv engine: layer " + std::to_string(l) + " weights: " + e.what());
    }
    auto w = ChannelsLast(hwio.permute({3, 2, 0, 1}));
    if (l == 0) w = ChannelsLast(w * (1.0f / 255.0f));
    p.w.push_back(w);
    p.b.push_back(CopyFloats(bias, {cout}));
    cin = cout;
  }
  return p;
}

// Forward through the stack; acts, when given, receives every layer's output.
at::Tensor Forward(const at::Tensor& x, const ConvParams& p, std::vector<at::Tensor>* acts) {
  at::Tensor a = x;
  for (size_t l = 0; l < p.w.size(); l++) {
    a = at::convolution(a, p.w[l], p.b[l], {StrideOf(l), StrideOf(l)}, {0, 0}, {1, 1}, false, {0, 0}, 1);
    a = at::relu_(a);
    if (acts) acts->push_back(a);
  }
  return a;
}

// [N, C, H, W] channels_last -> a Float32Array [N, H*W*C] (NHWC order: the memory order).
Napi::Float32Array ToFeatures(Napi::Env env, const at::Tensor& out) {
  auto nhwc = out.permute({0, 2, 3, 1}).contiguous();
  auto holder = new at::Tensor(nhwc);
  auto buf = Napi::ArrayBuffer::New(env, nhwc.data_ptr<float>(), nhwc.numel() * sizeof(float),
                                    [](Napi::Env, void*, at::Tensor* t) { delete t; }, holder);
  return Napi::Float32Array::New(env, nhwc.numel(), buf, 0);
}

Napi::Float32Array ToArray(Napi::Env env, const at::Tensor& t) {
  auto c = t.contiguous();
  auto arr = Napi::Float32Array::New(env, c.numel());
  std::memcpy(arr.Data(), c.data_ptr<float>(), c.numel() * sizeof(float));
  return arr;
}

// Runs fn on a pool thread; resolves with make(env) on the agent's thread.
class Pass : public Napi::AsyncWorker {
 public:
  using Work = std::function<void()>;
  using Make = std::function<Napi::Value(Napi::Env)>;
  Pass(Napi::Env env, std::shared_ptr<State> state, Work work, Make make)
      : Napi::AsyncWorker(env), state_(std::move(state)), work_(std::move(work)), make_(std::move(make)),
        deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    BusyGuard guard(state_.get());
    try {
      // The thread count is per calling thread under OpenMP: set it on the pool thread that runs the pass.
      at::set_num_threads(state_->threads);
      at::NoGradGuard no_grad;
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
                           InstanceMethod("features", &ConvEngine::Features),
                           InstanceMethod("anchor", &ConvEngine::Anchor),
                           InstanceMethod("anchorGrads", &ConvEngine::AnchorGrads),
                           InstanceMethod("release", &ConvEngine::Release),
                           InstanceAccessor("threads", &ConvEngine::Threads, nullptr),
                       });
  }

  explicit ConvEngine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ConvEngine>(info), s_(std::make_shared<State>()) {
    auto env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "ConvEngine({height, width, channels, layers, threads})");
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
    s_->threads = static_cast<int>(field("threads"));
  }

 private:
  // JS is single-threaded: once idle here, nothing can start a pass before Claim().
  void EnsureIdle(Napi::Env env) {
    if (s_->busy) throw Napi::Error::New(env, "conv engine: a pass is already running (await each pass before the next)");
  }
  void Claim() { s_->busy = true; }

  at::Tensor& Images(Napi::Env env, const Napi::Value& key) {
    auto it = s_->images.find(key.ToString().Utf8Value());
    if (it == s_->images.end()) throw Napi::RangeError::New(env, "conv engine: no '" + key.ToString().Utf8Value() + "' images loaded for this batch");
    return it->second;
  }

  // load({obs, next, pos}: Uint8Array HWC per row, rows): copies the batch's images.
  Napi::Value Load(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    EnsureIdle(env);
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsNumber()) throw Napi::TypeError::New(env, "load(images, rows)");
    const int64_t rows = info[1].As<Napi::Number>().Int64Value();
    if (rows < 1) throw Napi::RangeError::New(env, "conv engine: rows must be >= 1");
    s_->images.clear();
    s_->kept.reset();
    s_->rows = rows;
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
      s_->images[key] = nhwc.permute({0, 3, 1, 2});  // NCHW view of NHWC memory: channels_last
    }
    return env.Undefined();
  }

  Napi::Value Features(const Napi::CallbackInfo& info) { return Run(info, false); }
  Napi::Value Anchor(const Napi::CallbackInfo& info) { return Run(info, true); }

  // features/anchor(key, weights, biases) -> Promise<Float32Array [rows, F]>
  Napi::Value Run(const Napi::CallbackInfo& info, bool keep) {
    auto env = info.Env();
    if (info.Length() < 3) throw Napi::TypeError::New(env, "(key, weights, biases)");
    EnsureIdle(env);
    auto images = Images(env, info[0]);
    auto params = std::make_shared<ConvParams>(ReadParams(env, info[1], info[2], *s_));
    Claim();
    auto state = s_;
    auto out = std::make_shared<at::Tensor>();
    if (keep) state->kept.reset();
    auto* pass = new Pass(
        env, state,
        [state, images, params, out, keep]() {
          auto x = images.to(at::kFloat);  // keeps channels_last
          if (keep) {
            auto kept = std::make_unique<Kept>();
            kept->input = x;
            *out = Forward(x, *params, &kept->acts);
            state->kept = std::move(kept);
          } else {
            *out = Forward(x, *params, nullptr);
          }
        },
        [out](Napi::Env e) -> Napi::Value { return ToFeatures(e, *out); });
    auto promise = pass->Promise();
    pass->Queue();
    return promise;
  }

  // anchorGrads(weights, biases, dh: Float32Array [rows, F]) -> Promise<{w: Float32Array[] (HWIO), b: Float32Array[]}>
  Napi::Value AnchorGrads(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    if (info.Length() < 3 || !info[2].IsTypedArray()) throw Napi::TypeError::New(env, "anchorGrads(weights, biases, dh)");
    EnsureIdle(env);
    if (!s_->kept) throw Napi::RangeError::New(env, "conv tower: anchorGrads before anchor");
    auto params = std::make_shared<ConvParams>(ReadParams(env, info[0], info[1], *s_));
    const auto& last = s_->kept->acts.back();
    // dh arrives in NHWC order, the memory order of the channels_last activations
    at::Tensor dh;
    try {
      dh = CopyFloats(info[2].As<Napi::Float32Array>(), {last.size(0), last.size(2), last.size(3), last.size(1)}).permute({0, 3, 1, 2});
    } catch (const std::exception& e) {
      throw Napi::RangeError::New(env, std::string("conv engine: dh: ") + e.what());
    }
    Claim();
    auto state = s_;
    auto gw = std::make_shared<std::vector<at::Tensor>>(params->w.size());
    auto gb = std::make_shared<std::vector<at::Tensor>>(params->w.size());
    auto* pass = new Pass(
        env, state,
        [state, params, dh, gw, gb]() {
          const Kept& k = *state->kept;
          at::Tensor d = dh;
          for (int64_t l = static_cast<int64_t>(params->w.size()) - 1; l >= 0; l--) {
            const auto& out = k.acts[l];
            d = at::threshold_backward(d, out, 0);  // ReLU mask from its output
            const auto& input = l == 0 ? k.input : k.acts[l - 1];
            const int64_t s = StrideOf(l);
            std::vector<int64_t> bias_sizes{params->b[l].size(0)};
            auto grads = at::convolution_backward(d, input, params->w[l], at::IntArrayRef(bias_sizes), {s, s}, {0, 0}, {1, 1}, false,
                                                  {0, 0}, 1, {l > 0, true, true});
            auto g = std::get<1>(grads);
            if (l == 0) g = g * (1.0f / 255.0f);  // chain rule through the folded scaling
            (*gw)[l] = g.permute({2, 3, 1, 0}).contiguous();  // back to [kh, kw, Cin, Cout]
            (*gb)[l] = std::get<2>(grads);
            if (l > 0) d = std::get<0>(grads);
          }
        },
        [gw, gb](Napi::Env e) -> Napi::Value {
          auto w = Napi::Array::New(e, gw->size());
          auto b = Napi::Array::New(e, gb->size());
          for (uint32_t l = 0; l < gw->size(); l++) {
            w.Set(l, ToArray(e, (*gw)[l]));
            b.Set(l, ToArray(e, (*gb)[l]));
          }
          auto o = Napi::Object::New(e);
          o.Set("w", w);
          o.Set("b", b);
          return o;
        });
    auto promise = pass->Promise();
    pass->Queue();
    return promise;
  }

  Napi::Value Release(const Napi::CallbackInfo& info) {
    EnsureIdle(info.Env());
    s_->images.clear();
    s_->kept.reset();
    s_->rows = 0;
    return info.Env().Undefined();
  }

  Napi::Value Threads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), s_->threads); }

  std::shared_ptr<State> s_;
};

Napi::Value Info(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto o = Napi::Object::New(env);
  o.Set("torchVersion", std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." + std::to_string(TORCH_VERSION_PATCH));
  o.Set("mkldnn", at::hasMKLDNN());
  o.Set("parallel", at::get_parallel_info());
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("ConvEngine", ConvEngine::Define(env));
  exports.Set("info", Napi::Function::New(env, Info));
  return exports;
}

}  // namespace

NODE_API_MODULE(curl_conv, Init)
