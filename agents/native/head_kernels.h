// The agent's MLP heads (the twin Q networks and the actor) and its Adam steps on libtorch,
// for the CPU backends, where tfjs runs them on one wasm thread: at the paper's sizes the
// heads' matrix products and Adam over 8 M parameters took about 45% of a bf16 update.
// Included by conv_engine.cc (one translation unit, so build.mjs --out builds it unchanged)
// after the helpers it uses: IsFloat32Array, CopyFloats, ToArray, ChannelsLast.
//
// Same math as agents/networks.ts mlpForward (dense, ReLU between, none after the last) and
// agents/adam.ts, always in fp32: --precision governs the trunk only. Every matrix product is a
// 1x1 conv on oneDNN over operands laid out so that it runs as one matrix product on them as
// they lie, rather than whatever BLAS the system libtorch links (Debian's links the reference
// one); the weights stay in tfjs' [in, out] layout throughout, so preparing a layer (after every
// Adam step) is one copy.
//
// Everything here is synchronous on the caller's thread: tfjs asks for a gradient inside its
// tape (tf.customGrad), which cannot wait for a Promise. Sizes are small enough (a [128, 1024]
// x [1024, 1024] product) that the agent's thread is held for milliseconds.

#pragma once

#include <cfloat>
#include <cmath>

namespace {

// +0 where |x| < below (FLT_MIN: the subnormals and -0; 0: nothing), x otherwise. A comparison takes no
// assist on a subnormal.
inline float FlushBelow(float x, float below) { return std::fabs(x) < below ? 0.0f : x; }

// One dense layer: its weights in tfjs' own [in, out] layout.
struct Dense {
  at::Tensor w;  // [in, out] in memory
  at::Tensor b;
  int64_t in = 0;
  int64_t out = 0;
};

// A batch of rows [rows, features] as one image whose pixels are the rows: [1, features, rows, 1] in
// channels_last, the same memory. A dense layer is then a 1x1 conv over `rows` pixels, which oneDNN runs
// as one matrix product; with the rows as the batch ([rows, features, 1, 1]) it ran a matrix-vector
// product per row, reading the whole weight matrix 128 times (2-3x slower at [128, 1024] x [1024, 1024]).
at::Tensor RowsAsPixels(const at::Tensor& rows) {
  return rows.view({1, rows.size(0), 1, rows.size(1)}).permute({0, 3, 1, 2});
}

// A 1x1 conv on oneDNN. at::convolution would pick ATen's own im2col + BLAS path for a one-image
// input under 20,480 values (a first layer of 50 + action inputs, a one-output layer's gradient):
// the reference BLAS on Debian, and a warning per call from libtorch 2.x's NNPACK probe.
at::Tensor Conv1x1(const at::Tensor& x, const at::Tensor& w, const c10::optional<at::Tensor>& b) {
  if (at::hasMKLDNN()) return at::mkldnn_convolution(x, w, b, {0, 0}, {1, 1}, {1, 1}, 1);
  return at::convolution(x, w, b, {1, 1}, {0, 0}, {1, 1}, false, {0, 0}, 1);
}

// The inverse view, [1, features, rows, 1] channels_last -> [rows, features] (a copy only if the layout differs).
at::Tensor PixelsAsRows(const at::Tensor& pixels) {
  return pixels.permute({0, 2, 3, 1}).reshape({pixels.size(2), pixels.size(1)});
}

// A forward pass kept for its backward: every layer's input (the later ones are post-ReLU, so
// they are also the ReLU masks) and the layers it ran with, held even if the caller drops them.
struct MlpTrace {
  std::vector<std::shared_ptr<Dense>> layers;
  std::vector<at::Tensor> inputs;
  bool used = false;
};

// Sets libtorch's intra-op threads for the calling thread (per thread under OpenMP), only when it changes.
void UseThreads(int threads) {
  thread_local int current = -1;
  if (current != threads) {
    at::set_num_threads(threads);
    current = threads;
  }
}

std::shared_ptr<Dense> ReadDense(const Napi::Env& env, const Napi::Value& v) {
  if (!v.IsExternal()) throw Napi::TypeError::New(env, "head kernels: a layer must come from prepareDense()");
  return *v.As<Napi::External<std::shared_ptr<Dense>>>().Data();
}

// Float32Array scalars of a JS number argument, checked.
double NumberArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string("head kernels: '") + name + "' must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

class HeadKernels : public Napi::ObjectWrap<HeadKernels> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "HeadKernels",
                       {
                           InstanceMethod("prepareDense", &HeadKernels::PrepareDense),
                           InstanceMethod("mlpForward", &HeadKernels::MlpForward),
                           InstanceMethod("mlpBackward", &HeadKernels::MlpBackward),
                           InstanceMethod("adamStep", &HeadKernels::AdamStep),
                           InstanceMethod("softUpdate", &HeadKernels::SoftUpdate),
                           InstanceMethod("sumSquares", &HeadKernels::SumSquares),
                           InstanceAccessor("threads", &HeadKernels::Threads, nullptr),
                       });
  }

  explicit HeadKernels(const Napi::CallbackInfo& info) : Napi::ObjectWrap<HeadKernels>(info) {
    auto env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "HeadKernels({threads})");
    Napi::Value t = info[0].As<Napi::Object>().Get("threads");
    if (!t.IsNumber() || t.As<Napi::Number>().Int64Value() < 1) throw Napi::RangeError::New(env, "HeadKernels: 'threads' must be a positive integer");
    threads_ = static_cast<int>(t.As<Napi::Number>().Int64Value());
  }

 private:
  // prepareDense(w: Float32Array [in, out], b: Float32Array [out], in, out) -> an opaque layer, reusable while
  // its values stay the same (tfjs never changes a tensor's values, so the caller keys it by tensor).
  Napi::Value PrepareDense(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    if (info.Length() < 4) throw Napi::TypeError::New(env, "prepareDense(w, b, inDim, outDim)");
    const auto in = static_cast<int64_t>(NumberArg(info, 2, "inDim"));
    const auto out = static_cast<int64_t>(NumberArg(info, 3, "outDim"));
    if (in < 1 || out < 1) throw Napi::RangeError::New(env, "head kernels: a dense layer's sizes must be positive");
    if (!IsFloat32Array(info[0])) throw Napi::TypeError::New(env, "head kernels: dense weights must be a Float32Array");
    auto wa = info[0].As<Napi::Float32Array>();
    if (static_cast<int64_t>(wa.ElementLength()) != in * out) {
      throw Napi::RangeError::New(env, "head kernels: dense weights have " + std::to_string(wa.ElementLength()) + " values, expected " +
                                           std::to_string(in) + " x " + std::to_string(out));
    }
    auto layer = std::make_shared<Dense>();
    layer->in = in;
    layer->out = out;
    layer->w = CopyFloats(env, info[0], {in, out}, "dense weights");
    layer->b = CopyFloats(env, info[1], {out}, "dense bias");
    return Napi::External<std::shared_ptr<Dense>>::New(env, new std::shared_ptr<Dense>(layer),
                                                       [](Napi::Env, std::shared_ptr<Dense>* p) { delete p; });
  }

  // mlpForward(x: Float32Array [rows, in], rows, layers, keep) -> {out: Float32Array [rows, outLast], trace?}
  // ReLU after every layer but the last. With keep, trace holds what mlpBackward needs.
  Napi::Value MlpForward(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    if (info.Length() < 4 || !info[2].IsArray()) throw Napi::TypeError::New(env, "mlpForward(x, rows, layers, keep)");
    const auto rows = static_cast<int64_t>(NumberArg(info, 1, "rows"));
    if (rows < 1) throw Napi::RangeError::New(env, "head kernels: rows must be >= 1");
    auto arr = info[2].As<Napi::Array>();
    if (arr.Length() < 1) throw Napi::RangeError::New(env, "head kernels: an MLP needs at least one layer");
    auto trace = std::make_shared<MlpTrace>();
    for (uint32_t i = 0; i < arr.Length(); i++) {
      trace->layers.push_back(ReadDense(env, arr[i]));
      if (i > 0 && trace->layers[i]->in != trace->layers[i - 1]->out) {
        throw Napi::RangeError::New(env, "head kernels: layer " + std::to_string(i) + " takes " + std::to_string(trace->layers[i]->in) +
                                             " inputs, the layer before gives " + std::to_string(trace->layers[i - 1]->out));
      }
    }
    at::Tensor a = RowsAsPixels(CopyFloats(env, info[0], {rows, trace->layers[0]->in}, "MLP input"));
    const bool keep = info[3].ToBoolean();
    UseThreads(threads_);
    c10::NoGradGuard no_grad;
    const size_t last = trace->layers.size() - 1;
    for (size_t i = 0; i <= last; i++) {
      if (keep) trace->inputs.push_back(a);
      const auto& layer = *trace->layers[i];
      // y [rows, out] = x [rows, in] x W [in, out], with the layer's outputs as the pixels: W as the image
      // (plain NCHW), the rows as the filters. The bias is per pixel, so it is added after (one rounding,
      // as inside the conv).
      auto y = Conv1x1(layer.w.view({1, layer.in, layer.out, 1}), PixelsAsRows(a).view({rows, layer.in, 1, 1}), {}).view({rows, layer.out});
      y.add_(layer.b);
      a = RowsAsPixels(y);
      if (i < last) at::relu_(a);
    }
    auto result = Napi::Object::New(env);
    result.Set("out", ToArray(env, PixelsAsRows(a)));
    if (keep) {
      result.Set("trace", Napi::External<std::shared_ptr<MlpTrace>>::New(env, new std::shared_ptr<MlpTrace>(trace),
                                                                          [](Napi::Env, std::shared_ptr<MlpTrace>* p) { delete p; }));
    }
    return result;
  }

  // mlpBackward(trace, dOut: Float32Array [rows, outLast], paramGrads) -> {dx: [rows, in], w?: [in, out][], b?: [out][]}
  // A trace serves one backward pass; its activations are freed by it.
  Napi::Value MlpBackward(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    if (info.Length() < 3 || !info[0].IsExternal()) throw Napi::TypeError::New(env, "mlpBackward(trace, dOut, paramGrads)");
    auto trace = *info[0].As<Napi::External<std::shared_ptr<MlpTrace>>>().Data();
    if (trace->used) throw Napi::Error::New(env, "head kernels: a forward pass's trace serves one backward pass");
    const bool paramGrads = info[2].ToBoolean();
    const int64_t rows = trace->inputs[0].size(2);
    at::Tensor d = RowsAsPixels(CopyFloats(env, info[1], {rows, trace->layers.back()->out}, "MLP output gradient"));
    UseThreads(threads_);
    c10::NoGradGuard no_grad;
    const auto n = static_cast<int64_t>(trace->layers.size());
    std::vector<at::Tensor> gw(n), gb(n);
    for (int64_t i = n - 1; i >= 0; i--) {
      if (i < n - 1) d = at::threshold_backward(d, trace->inputs[i + 1], 0);  // ReLU mask from its output
      const auto& layer = *trace->layers[i];
      const at::Tensor dRows = PixelsAsRows(d);  // [rows, out]
      if (paramGrads) {
        // dW in tfjs' [in, out] layout = x^T d: a 1x1 conv whose pixels are the layer's outputs and whose
        // channels are the rows; oneDNN's own weight gradient of the rows-as-pixels conv was slower here.
        const at::Tensor xT = PixelsAsRows(trace->inputs[i]).t().contiguous().view({layer.in, rows, 1, 1});
        gw[i] = Conv1x1(dRows.view({1, rows, layer.out, 1}), xT, {}).contiguous().view({layer.in, layer.out});
        gb[i] = dRows.sum(0);
      }
      d = ChannelsLast(Conv1x1(d, layer.w.view({layer.in, layer.out, 1, 1}), {}));  // dx = d W^T, the rows as the pixels
    }
    trace->used = true;
    trace->inputs.clear();
    auto result = Napi::Object::New(env);
    result.Set("dx", ToArray(env, PixelsAsRows(d)));
    if (paramGrads) {
      auto w = Napi::Array::New(env, n);
      auto b = Napi::Array::New(env, n);
      for (int64_t i = 0; i < n; i++) {
        w.Set(static_cast<uint32_t>(i), ToArray(env, gw[i]));
        b.Set(static_cast<uint32_t>(i), ToArray(env, gb[i]));
      }
      result.Set("w", w);
      result.Set("b", b);
    }
    return result;
  }

  static Napi::Float32Array FloatsArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
    if (info.Length() <= i || !IsFloat32Array(info[i])) {
      throw Napi::TypeError::New(info.Env(), std::string("head kernels: '") + name + "' must be a Float32Array");
    }
    return info[i].As<Napi::Float32Array>();
  }

  // adamStep(p, g, m, v, out, lr, beta1, beta2, eps, t, flush): one step of PyTorch's Adam: m and v in place, the
  // new parameter values into out (p may be a backend's own buffer, which is never written).
  // The same float32 operations in the same order as agents/adam.ts (each rounded, none fused: the
  // addon is built with -ffp-contract=off), so the two agree bit for bit on IEEE hardware.
  // With flush (agents/adam.ts says on which steps), moments below FLT_MIN are stored as zero, as
  // adam.ts stores them there: a dead ReLU unit's m decays into the subnormal range and stays there,
  // and x86 takes a microcode assist on every subnormal operand (late in a 100k run the critic's
  // Adam step took 21x its normal time, `npm run bench -- adam`).
  Napi::Value AdamStep(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto p = FloatsArg(info, 0, "p"), g = FloatsArg(info, 1, "g"), m = FloatsArg(info, 2, "m"), v = FloatsArg(info, 3, "v");
    auto out = FloatsArg(info, 4, "out");
    const size_t n = p.ElementLength();
    if (g.ElementLength() != n || m.ElementLength() != n || v.ElementLength() != n || out.ElementLength() != n) {
      throw Napi::RangeError::New(env, "head kernels: adamStep's p, g, m, v and out must have the same length");
    }
    const double lr = NumberArg(info, 5, "lr"), beta1 = NumberArg(info, 6, "beta1"), beta2 = NumberArg(info, 7, "beta2");
    const double eps = NumberArg(info, 8, "eps"), t = NumberArg(info, 9, "t");
    if (info.Length() <= 10 || !info[10].IsBoolean()) throw Napi::TypeError::New(env, "head kernels: adamStep's 'flush' must be a boolean");
    const float flushBelow = info[10].As<Napi::Boolean>().Value() ? FLT_MIN : 0.0f;
    // agents/adam.ts' scalars, computed in float64 and then rounded to float32 as tfjs rounds them
    const float b1 = static_cast<float>(beta1), c1 = static_cast<float>(1 - beta1);
    const float b2 = static_cast<float>(beta2), c2 = static_cast<float>(1 - beta2);
    const float sqrtBc2 = static_cast<float>(std::sqrt(1 - std::pow(beta2, t)));
    const float stepSize = static_cast<float>(lr / (1 - std::pow(beta1, t)));
    const float epsF = static_cast<float>(eps);
    const float* pd = p.Data();
    float* od = out.Data();
    const float* gd = g.Data();
    float* md = m.Data();
    float* vd = v.Data();
    UseThreads(threads_);
    at::parallel_for(0, static_cast<int64_t>(n), 1 << 15, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; i++) {
        const float gi = gd[i];
        const float mi = FlushBelow(md[i] * b1 + gi * c1, flushBelow);
        const float vi = FlushBelow(vd[i] * b2 + (gi * gi) * c2, flushBelow);
        const float denom = std::sqrt(vi) / sqrtBc2 + epsF;
        od[i] = pd[i] - (mi / denom) * stepSize;
        md[i] = mi;
        vd[i] = vi;
      }
    });
    return env.Undefined();
  }

  // softUpdate(target, online, tau, out): out = online * tau + target * (1 - tau), rounded as agents/ema.ts rounds it.
  Napi::Value SoftUpdate(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto target = FloatsArg(info, 0, "target"), online = FloatsArg(info, 1, "online"), out = FloatsArg(info, 3, "out");
    if (target.ElementLength() != online.ElementLength() || out.ElementLength() != online.ElementLength()) {
      throw Napi::RangeError::New(env, "head kernels: softUpdate's tensors must have the same length");
    }
    const double tau = NumberArg(info, 2, "tau");
    const float a = static_cast<float>(tau), c = static_cast<float>(1 - tau);
    const float* td = target.Data();
    const float* od = online.Data();
    float* xd = out.Data();
    UseThreads(threads_);
    at::parallel_for(0, static_cast<int64_t>(target.ElementLength()), 1 << 15, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; i++) xd[i] = od[i] * a + td[i] * c;
    });
    return env.Undefined();
  }

  // sumSquares(x) -> the sum of x's squares, accumulated in float64 (a gradient's squared norm).
  Napi::Value SumSquares(const Napi::CallbackInfo& info) {
    auto x = FloatsArg(info, 0, "x");
    const float* xd = x.Data();
    UseThreads(threads_);
    const double total = at::parallel_reduce(
        0, static_cast<int64_t>(x.ElementLength()), 1 << 15, 0.0,
        [&](int64_t begin, int64_t end, double acc) {
          for (int64_t i = begin; i < end; i++) acc += static_cast<double>(xd[i]) * xd[i];
          return acc;
        },
        std::plus<double>());
    return Napi::Number::New(info.Env(), total);
  }

  Napi::Value Threads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), threads_); }

  int threads_ = 1;
};

}  // namespace
