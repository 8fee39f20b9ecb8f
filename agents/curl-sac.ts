import * as tf from '@tensorflow/tfjs';
import type { Batch } from '../replay/types.js';
import type { BackendName } from '../src/core/backend-names.js';
import { Rng } from '../src/core/rng.js';
import { Adam } from './adam.js';
import { captureAgentState, checkAgentState, restoreAgentState } from './agent-state.js';
import type { AgentParts } from './agent-state.js';
import { createAuxObjective } from './aux/index.js';
import type { AuxInputs, AuxObjective } from './aux/index.js';
import type { AuxNeeds } from './aux/objective.js';
import { auxObjective } from './aux/registry.js';
import { softUpdate } from './ema.js';
import { createHeadKernels } from './head-kernels.js';
import type { HeadEngineName, HeadKernels } from './head-kernels.js';
import * as L from './losses.js';
import { actorForward, convForward, headForward, latent, qForward } from './networks.js';
import type { ConvParams } from './networks.js';
import {
  convNames, convParams, createParams, featureDim, headNames, headParams, mlpNames, mlpParams,
} from './params.js';
import type { ParamMap } from './params.js';
import { StageTimer } from './stage-timer.js';
import { EncoderPasses } from './tower/passes.js';
import { createTrunk } from './tower/trunk.js';
import type { ConvEngineName, DenseParams, TrunkGrads } from './tower/trunk.js';
import { hostValues } from './host-memory.js';
import type { NativeHeadKernels, Precision } from './native/addon.js';
import type { AgentConfig, AgentSpec, AgentState, UpdateMetrics } from './types.js';
import { AgentError } from './types.js';

type Grads = Map<string, tf.Tensor>;

/** The hidden width from which the head kernels use libtorch's threads (the paper's is 1024). */
const MIN_HIDDEN_FOR_THREADS = 256;
type Metrics = Record<string, tf.Scalar>;

/**
 * Where the agent's encoder passes run, decided by whoever builds the agent
 * (src/conv-engine.ts for a run): the conv engine, the tfjs backend its
 * worker threads initialise, libtorch's threads, and the tfjs engine's
 * extra worker threads.
 */
export interface AgentCompute {
  readonly engine: ConvEngineName;
  readonly backend: BackendName;
  readonly threads: number;
  readonly workers: number;
  /** what the trunk's convs and dense heads compute in (libtorch only; fp32 when left out) */
  readonly precision?: Precision;
  /** where the Q and actor MLPs, Adam and the target EMA run (fp32 either way); the conv engine's when left out */
  readonly heads?: HeadEngineName;
}

/** A loss's gradients: of its parameters by name, and of the encoder output(s) it read. */
interface HeadLossGrads {
  readonly params: Grads;
  /** d loss / d u for the head output of the kept pass */
  readonly du: tf.Tensor2D;
  /** d loss / d u for a second online view (the aux positive), when the loss read one */
  readonly duPos: tf.Tensor2D | null;
}

/** An encoder head's dense layer, which the trunk runs (its LayerNorm runs here). */
function denseOf(params: ReadonlyMap<string, tf.Tensor>, prefix: string): DenseParams {
  const { fcW, fcB } = headParams(params, prefix);
  return { w: fcW, b: fcB };
}

function lnNames(prefix: string): string[] {
  return headNames(prefix).slice(2);
}

/** tf.tidy for a computation that returns named tensors (a Map is not a TensorContainer). */
function tidyMap(fn: () => Map<string, tf.Tensor>): Map<string, tf.Tensor> {
  let names: string[] = [];
  const tensors = tf.tidy(() => {
    const m = fn();
    names = [...m.keys()];
    return [...m.values()];
  });
  return new Map(names.map((n, i) => [n, tensors[i]!]));
}

/**
 * The gradients of `loss` with respect to the encoder outputs `us` and the
 * parameters `names` (taken from `values`), inside one tidy. `loss` gets the
 * differentiable outputs and a map of the differentiable parameters; it may
 * tf.keep() metrics it computes.
 */
function headLossGrads(
  us: readonly tf.Tensor2D[], names: readonly string[], values: readonly tf.Tensor[],
  loss: (us: tf.Tensor2D[], params: Map<string, tf.Tensor>) => tf.Scalar,
): { value: tf.Scalar; grads: HeadLossGrads } {
  let value: tf.Scalar | null = null;
  const grads = tidyMap(() => {
    const out = tf.valueAndGrads((...ts: tf.Tensor[]) => {
      const m = new Map(names.map((n, i) => [n, ts[i + us.length]!]));
      return loss(ts.slice(0, us.length) as tf.Tensor2D[], m);
    })([...us, ...values]);
    value = tf.keep(out.value as tf.Scalar);
    return new Map<string, tf.Tensor>([
      ...us.map((_, i) => [`\0u${i}`, out.grads[i]!] as [string, tf.Tensor]),
      ...names.map((n, i) => [n, out.grads[i + us.length]!] as [string, tf.Tensor]),
    ]);
  });
  const du = us.map((_, i) => grads.get(`\0u${i}`) as tf.Tensor2D);
  us.forEach((_, i) => grads.delete(`\0u${i}`));
  return { value: value!, grads: { params: grads, du: du[0]!, duPos: du[1] ?? null } };
}

/** The gradients' global L2 norm; on the head kernels when given (one pass, float64 sums, instead of two tfjs ops and a temporary per tensor). */
function globalNorm(grads: Iterable<tf.Tensor>, native: NativeHeadKernels | null): tf.Scalar {
  if (native) {
    let sum = 0;
    for (const g of grads) sum += native.sumSquares(hostValues(g));
    return tf.scalar(Math.sqrt(sum));
  }
  return tf.tidy(() => tf.sqrt(tf.addN([...grads].map((g) => tf.sum(tf.square(g))))) as tf.Scalar);
}

/**
 * One optimiser step (or several, in order) with a loss's gradients, which it
 * consumes; returns their global norm. `seen` is a test seam that sees them
 * before the step.
 */
function applyGradients(
  grads: Grads, seen: ((grads: ReadonlyMap<string, tf.Tensor>) => void) | null, native: NativeHeadKernels | null, ...optimizers: Adam[]
): tf.Scalar {
  const norm = globalNorm(grads.values(), native);
  seen?.(grads);
  for (const opt of optimizers) opt.step(grads);
  tf.dispose([...grads.values()]);
  return norm;
}

/** Sums `more` into `into`, name by name (`into`'s order kept); both maps' tensors are consumed. */
function addInto(into: Grads, more: Grads): void {
  for (const [n, g] of more) {
    const a = into.get(n)!;
    into.set(n, tf.add(a, g));
    tf.dispose([a, g]);
  }
}

/**
 * SAC with the CURL auxiliary loss (Srinivas, Laskin & Abbeel 2020), after
 * the authors' curl_sac.py, with these deliberate differences:
 *
 * 1. One Adam step per loss on the encoder. The reference steps the encoder
 *    three times per update: critic_optimizer with the critic loss, then BOTH
 *    encoder_optimizer and cpc_optimizer with the same CURL gradient (two Adam
 *    instances over the same encoder, so the CURL loss effectively gets twice
 *    the step). That is an accident of its optimiser bookkeeping, not part of
 *    the method in the paper, so we keep one optimiser per loss: the critic's
 *    Adam (critic loss) and CURL's Adam (CURL loss; encoder + W).
 *    `curlEncoderSteps: 2` (--curl-encoder-steps 2) restores the reference's
 *    double step as an opt-in, for comparing with its published curves.
 * 2. Why not one Adam on the SUMMED gradient, which one backward pass would
 *    give: Adam normalises each coordinate by its own gradient history, so
 *    Adam(g_critic + g_curl) != Adam(g_critic) + Adam(g_curl). The former lets
 *    whichever loss has the larger gradient drown the other and halves the
 *    combined step; the reference's semantics are the latter (each loss its own
 *    moments, its own lr-sized step). So we keep two gradients and two Adams.
 * 3. The anchor crop is encoded ONCE: the critic and CURL gradients are both
 *    taken at the parameters from the start of the update (the reference runs
 *    CURL after the critic step, i.e. at parameters one critic step later).
 *    Everything else keeps the reference's order: critic step, then actor and
 *    alpha (seeing the critic-updated convs), the target EMA, then the CURL
 *    step whose keys come from the just-updated momentum encoder. (The EMA runs
 *    before the actor step: it reads only the critic, which the actor step does
 *    not change, so this is the same computation, and it lets the keys' conv
 *    pass run on the engine while the actor trains.)
 * 4. In the actor update one conv pass of the obs serves both the actor's and
 *    the critic's encoder heads (their convs are tied and detached there).
 * 5. The auxiliary loss is pluggable (agents/aux: CURL and its debiased,
 *    hard-negative and queued forms, SimCLR, BYOL, Barlow Twins; `none` has
 *    none). What 1-3 say of CURL holds for each: its own Adam over the encoder
 *    and its own parameters, its gradient at the start-of-update encoder, after
 *    the target EMA. Objectives with a second online view re-run the positive
 *    crop as the kept anchor for its backward (see updateAux).
 * 6. DrQ's averaging (batch.nextViews = K, batch.obsViews = M; 1 and 1 is the
 *    update above, unchanged): the target is averaged over K next_obs views,
 *    the Q loss over M obs views in one anchor pass of M x B rows; the actor
 *    and the aux loss read view 0 (see agents/README.md for what that costs).
 */
export class CurlSacAgent {
  readonly config: AgentConfig;
  readonly spec: AgentSpec;
  readonly targetEntropy: number;
  private readonly params: ParamMap;
  private readonly criticOpt: Adam;
  private readonly actorOpt: Adam;
  private readonly alphaOpt: Adam;
  /** The auxiliary objective (agents/aux) and its Adam (encoder + its own parameters); null with aux 'none'. */
  private readonly aux: AuxObjective | null;
  /** The encoder passes the objective reads besides the anchor (its descriptor's). */
  private readonly auxNeeds: AuxNeeds;
  private readonly auxOpt: Adam | null;
  /**
   * Opt-in (curlEncoderSteps > 1): further Adams over the encoder alone that
   * step it with the same aux gradient, as the CURL reference code's
   * encoder_optimizer and cpc_optimizer both hold the encoder. Each keeps its
   * own moments, like the reference's.
   */
  private readonly encoderRepeatOpts: Adam[];
  private rng: Rng;
  private updates = 0;
  private disposed = false;
  /** Wall-clock ms of each stage of the last update. */
  lastStageMs: Record<string, number> = {};
  private readonly numLayers: number;
  private readonly passes: EncoderPasses;
  private readonly kernels: HeadKernels;
  /**
   * Test seam: sees each update's aux-loss gradients, by parameter name, just
   * before the aux Adam applies them, so tests can check them against an
   * independent autodiff (after Adam only the sign survives a first step).
   * The tensors are disposed after the call: copy what you keep.
   */
  onAuxGradients: ((grads: ReadonlyMap<string, tf.Tensor>) => void) | null = null;
  /** Test seam, as onAuxGradients: the critic's gradients (Q loss averaged over the M obs views) before its Adam step. */
  onCriticGradients: ((grads: ReadonlyMap<string, tf.Tensor>) => void) | null = null;
  /** Test seam, as onAuxGradients: the actor's gradients before its Adam step. */
  onActorGradients: ((grads: ReadonlyMap<string, tf.Tensor>) => void) | null = null;

  constructor(config: AgentConfig, spec: AgentSpec, seed: number, compute: AgentCompute) {
    const [h, w, c] = spec.obsShape;
    if (h !== w) throw new AgentError(`obsShape must be square (crop x crop x channels), got [${spec.obsShape}]`);
    if (!Number.isInteger(c) || c <= 0) throw new AgentError(`obsShape channels must be a positive integer, got ${c}`);
    if (!Number.isInteger(spec.actionDim) || spec.actionDim <= 0) throw new AgentError(`actionDim must be a positive integer, got ${spec.actionDim}`);
    this.config = config;
    this.spec = spec;
    this.numLayers = config.numConvLayers;
    this.targetEntropy = -spec.actionDim;
    // separate streams for init and for noise, so aux 'curl' (which also draws W)
    // and aux 'none' with the same seed start from the same nets AND the same noise
    this.rng = new Rng(`noise:${seed}`);
    const initRng = new Rng(seed);
    this.params = createParams(
      {
        obsShape: spec.obsShape, actionDim: spec.actionDim, numConvLayers: config.numConvLayers,
        numFilters: config.numFilters, latentDim: config.latentDim, hiddenDim: config.hiddenDim,
      },
      config.initTemperature,
      initRng,
    );
    // the aux objective's parameters are drawn next from the same stream
    this.aux = createAuxObjective(config, this.params, initRng);
    this.auxNeeds = auxObjective(config.aux).needs;
    // Small heads (tests, the toy presets) run on one thread: OpenMP's fork and join per op costs more than it
    // saves there and, on a loaded machine, every barrier may wait out a scheduler slice (the conv engine's rule).
    // Fixed per agent: changing libtorch's thread count rebuilds its thread pool.
    const headThreads = config.hiddenDim >= MIN_HIDDEN_FOR_THREADS ? compute.threads : 1;
    this.kernels = createHeadKernels({ engine: compute.heads ?? compute.engine, threads: headThreads });
    const native = this.kernels.native;
    const adam = { lr: config.lr, beta1: config.beta1 };
    this.criticOpt = new Adam(this.params, [...convNames(this.numLayers), ...headNames('critic'), ...mlpNames('q1'), ...mlpNames('q2')], adam, native);
    // the actor's convs are the critic's and always detached for its loss, so its optimiser does not hold them
    this.actorOpt = new Adam(this.params, [...headNames('actor'), ...mlpNames('actor')], adam, native);
    // one scalar: a native call would only add its overhead
    this.alphaOpt = new Adam(this.params, ['logAlpha'], { lr: config.alphaLr, beta1: config.alphaBeta1 });
    this.auxOpt = this.aux
      ? new Adam(this.params, [...convNames(this.numLayers), ...headNames('critic'), ...this.aux.ownNames], adam, native)
      : null;
    const encoderSteps = this.aux ? (config.curlEncoderSteps ?? 1) : 1;
    this.encoderRepeatOpts = Array.from(
      { length: encoderSteps - 1 },
      () => new Adam(this.params, [...convNames(this.numLayers), ...headNames('critic')], adam, native),
    );
    this.passes = new EncoderPasses(createTrunk({
      engine: compute.engine,
      threads: compute.threads,
      numLayers: config.numConvLayers,
      numFilters: config.numFilters,
      obsShape: spec.obsShape,
      microBatch: config.microBatch,
      // with an aux loss a second backward pass meets the same activations
      cacheTransposes: this.aux !== null,
      workers: compute.engine === 'tfjs' ? compute.workers : 0,
      backend: compute.backend,
      ...(compute.precision ? { precision: compute.precision } : {}),
    }));
  }

  /** Threads an update's conv passes are split over (tfjs engine; 1 on libtorch). */
  get convShards(): number {
    return this.passes.trunk.shards;
  }

  /** Which engine runs the conv passes, on how many threads, in what precision. */
  get convEngine(): { engine: ConvEngineName; threads: number; precision: Precision } {
    return { engine: this.passes.trunk.engine, threads: this.passes.trunk.threads, precision: this.passes.trunk.precision };
  }

  /** Which engine runs the MLP heads, Adam and the target EMA (always fp32). */
  get headEngine(): HeadEngineName {
    return this.kernels.engine;
  }

  /** Names of all variables (for inspection and tests). */
  paramNames(): string[] {
    return [...this.params.keys()];
  }

  /** A copy of one variable's values. */
  async readParam(name: string): Promise<Float32Array> {
    const p = this.params.get(name);
    if (!p) throw new AgentError(`unknown parameter "${name}"`);
    return (await p.data()) as Float32Array;
  }

  get updateCount(): number {
    return this.updates;
  }

  private obsSize(): number {
    const [h, w, c] = this.spec.obsShape;
    return h * w * c;
  }

  act(obs: Uint8Array, options: { deterministic: boolean }): Float32Array {
    this.assertLive();
    if (obs.length !== this.obsSize()) {
      throw new AgentError(`act: observation has ${obs.length} bytes, expected ${this.obsSize()} (${this.spec.obsShape.join('x')}, HWC uint8, centre-cropped)`);
    }
    const a = this.spec.actionDim;
    const noise = new Float32Array(a);
    if (!options.deterministic) for (let i = 0; i < a; i++) noise[i] = this.rng.normal();
    const out = tf.tidy(() => {
      const x = tf.cast(tf.tensor4d(obs, [1, ...this.spec.obsShape], 'int32'), 'float32') as tf.Tensor4D;
      const { h } = convForward(x, convParams(this.params, this.numLayers), false);
      const z = headForward(h, headParams(this.params, 'actor'));
      const { mu, logStdRaw } = actorForward(z, mlpParams(this.params, 'actor'), a);
      if (options.deterministic) return tf.tanh(mu);
      const pol = L.tanhGaussian(mu, logStdRaw, tf.tensor2d(noise, [1, a]), this.config.actorLogStdMin, this.config.actorLogStdMax);
      return pol.action;
    });
    const data = out.dataSync() as Float32Array;
    out.dispose();
    return Float32Array.from(data);
  }

  /**
   * The critic encoder's latents (its dense output after LayerNorm: what the
   * critic and the aux objectives read) of `count` centre-cropped HWC uint8
   * observations, row after row [count, latentDim]; for probes of the
   * representation. Runs on tfjs, as acting does.
   */
  features(obs: Uint8Array, count: number): Float32Array {
    this.assertLive();
    if (!Number.isInteger(count) || count < 1 || obs.length !== count * this.obsSize()) {
      throw new AgentError(`features: ${obs.length} bytes for ${count} observations, expected ${this.obsSize()} each (${this.spec.obsShape.join('x')}, HWC uint8, centre-cropped)`);
    }
    const out = tf.tidy(() => {
      const x = tf.cast(tf.tensor4d(obs, [count, ...this.spec.obsShape], 'int32'), 'float32') as tf.Tensor4D;
      const { h } = convForward(x, convParams(this.params, this.numLayers), false);
      return headForward(h, headParams(this.params, 'critic'));
    });
    const data = Float32Array.from(out.dataSync() as Float32Array);
    out.dispose();
    return data;
  }

  private normals(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.rng.normal();
    return out;
  }

  private validateBatch(batch: Batch): void {
    const [s, , c] = this.spec.obsShape;
    const b = batch.batchSize;
    const fail = (msg: string): never => {
      throw new AgentError(`update: ${msg}`);
    };
    if (!Number.isInteger(b) || b < 1) fail(`batchSize must be a positive integer, got ${b}`);
    if (batch.size !== s || batch.channels !== c) fail(`batch images are ${batch.size}x${batch.size}x${batch.channels}, the agent expects ${s}x${s}x${c}`);
    if (batch.actionDim !== this.spec.actionDim) fail(`batch actionDim ${batch.actionDim}, expected ${this.spec.actionDim}`);
    const img = b * s * s * c;
    const m = batch.obsViews ?? 1;
    const k = batch.nextViews ?? 1;
    if (!Number.isInteger(m) || m < 1 || !Number.isInteger(k) || k < 1) fail(`obsViews and nextViews must be positive integers, got ${m} and ${k}`);
    if (batch.obs.length !== m * img) fail(`obs has ${batch.obs.length} bytes, expected ${m > 1 ? `${m} views x ` : ''}${img}`);
    if (batch.nextObs.length !== k * img) fail(`nextObs has ${batch.nextObs.length} bytes, expected ${k > 1 ? `${k} views x ` : ''}${img}`);
    if (this.aux) {
      if (!batch.obsPositive) fail(`aux '${this.config.aux}' needs batch.obsPositive (sample the replay with a positive view)`);
      else if (batch.obsPositive.length !== img) fail(`obsPositive has ${batch.obsPositive.length} bytes, expected ${img}`);
      if (this.auxNeeds.replayIndices) {
        if (!batch.indices) fail(`aux '${this.config.aux}' needs batch.indices (each row's replay index; ReplayBuffer.sample gives them)`);
        else if (batch.indices.length !== b || !batch.indices.every((g) => Number.isSafeInteger(g) && g >= 0)) {
          fail(`indices must be ${b} non-negative integers (one replay index per row), got ${batch.indices.length} values`);
        }
      }
    }
    if (batch.action.length !== b * this.spec.actionDim) fail(`action has ${batch.action.length} values, expected ${b * this.spec.actionDim}`);
    if (batch.reward.length !== b) fail(`reward has ${batch.reward.length} values, expected ${b}`);
    if (batch.notDone.length !== b) fail(`notDone has ${batch.notDone.length} values, expected ${b}`);
  }

  /**
   * One update, as the reference orders it: critic target, critic, target
   * EMA, actor and temperature (every actorUpdateFreq steps), aux objective.
   * Encoder passes are started ahead where their parameters are already
   * final, so the engine runs them while tfjs computes the step before.
   */
  async update(batch: Batch, step: number): Promise<UpdateMetrics> {
    this.assertLive();
    this.validateBatch(batch);
    if (!Number.isInteger(step) || step < 0) throw new AgentError(`update: step must be a non-negative integer, got ${step}`);
    const cfg = this.config;
    const b = batch.batchSize;
    const A = this.spec.actionDim;
    const aux = this.aux;
    // DrQ (Kostrikov, Yarats & Fergus 2020, eq. 2-3): K views of next_obs for the target, M of obs for the Q loss
    const K = batch.nextViews ?? 1;
    const M = batch.obsViews ?? 1;
    const doActor = step % cfg.actorUpdateFreq === 0;
    // host-side draws first, in a fixed order, so the noise stream does not depend on what runs when
    const noiseNext = this.normals(K * b * A);
    const noiseActor = doActor ? this.normals(b * A) : null;

    const P = this.params;
    const passes = this.passes;
    const conv = () => convParams(P, this.numLayers);
    const timer = new StageTimer();
    const metrics: Metrics = {};
    const temp: tf.Tensor[] = [];
    const keep = <T extends tf.Tensor | null>(t: T): T => {
      if (t) temp.push(t);
      return t;
    };
    let snapshot: Map<string, tf.Tensor> | null = null;
    try {
      await passes.begin({ obs: batch.obs, next: batch.nextObs, pos: aux ? batch.obsPositive! : null, rows: b, nextViews: K, obsViews: M });
      timer.mark('upload');

      const [uNext] = (await passes.forward('next', conv(), [denseOf(P, 'actor')])).map(keep);
      const [uNextT] = (await passes.forward('next', convParams(P, this.numLayers, 'target.'), [denseOf(P, 'target.critic')])).map(keep);
      // the anchor pass runs on the engine while the target is computed here
      const obsLoaded = passes.loadObs();
      const anchorPass = passes.start('obs', conv(), [denseOf(P, 'critic')], 'anchor');
      const target = this.computeTarget(uNext!, uNextT!, batch, noiseNext);
      const y = keep(target.y);
      Object.assign(metrics, target.metrics);
      timer.mark('target');

      // one encoder pass of the anchor crop (all M views) serves the critic and the aux loss
      await obsLoaded;
      const [uA] = (await anchorPass).map(keep);
      // the aux gradient is taken at these start-of-update parameters (see the class doc)
      if (aux) snapshot = new Map([...convNames(this.numLayers), ...headNames('critic')].map((n) => [n, P.get(n)!.clone()]));
      timer.mark('anchor');

      Object.assign(metrics, await this.updateCritic(uA!, y, batch, M));
      timer.mark('critic');

      // before the actor (the reference runs it after): the EMA reads only the critic, which the
      // actor step leaves alone, so the numbers are the same, and the keys' pass below can run on
      // the engine while the actor trains
      if (step % cfg.criticTargetUpdateFreq === 0) this.softUpdateTargets();
      timer.mark('ema');

      const actorPass = doActor ? passes.start('obs', conv(), [denseOf(P, 'actor'), denseOf(P, 'critic')], 'detached') : null;
      const auxPasses = aux ? this.startAuxPasses(snapshot!) : null;
      if (actorPass) {
        const us = (await actorPass).map(keep);
        const [uActor, uCritic] = M === 1 ? us : passes.firstView(us).map(keep);
        Object.assign(metrics, await this.updateActorAndAlpha(uActor!, uCritic!, noiseActor!));
      }
      timer.mark('actor');

      if (aux && auxPasses) {
        const awaited = async (p: Promise<tf.Tensor2D[]> | null) => (p ? keep((await p)[0]!) : null);
        const uPosT = await awaited(auxPasses.posT);
        const uObsT = await awaited(auxPasses.obsT);
        const uP = await awaited(auxPasses.posOnline);
        // M obs views (DrQ): every pass ran over M x B rows; the aux loss reads view 0
        const view0 = (u: tf.Tensor2D | null): tf.Tensor2D | null => (u && M > 1 ? keep(passes.firstView([u])[0]!) : u);
        const views: AuxInputs = {
          uA: view0(uA!)!, uP: view0(uP), uPosT: view0(uPosT), uObsT: view0(uObsT), params: P, fixed: P,
          ...(batch.indices ? { indices: batch.indices } : {}),
        };
        Object.assign(metrics, await this.updateAux(aux, views, snapshot!));
      }
      timer.mark(aux?.metricPrefix === 'curl' || !aux ? 'curl' : 'aux');

      this.updates += 1;
      this.lastStageMs = timer.ms;
      return await readMetrics(metrics);
    } finally {
      await passes.finish();
      if (snapshot) tf.dispose([...snapshot.values()]);
      tf.dispose([...temp, ...Object.values(metrics)]);
    }
  }

  /**
   * The critic's target y = r + gamma * notDone * (min Q_target(s', a') - alpha log pi(a'|s')),
   * a' from the actor on next_obs; averaged over the K next views (DrQ).
   * uNext: the actor head on next_obs; uNextT: the target critic's head.
   */
  private computeTarget(uNext: tf.Tensor2D, uNextT: tf.Tensor2D, batch: Batch, noise: Float32Array): { y: tf.Tensor2D; metrics: Metrics } {
    const cfg = this.config;
    const P = this.params;
    const A = this.spec.actionDim;
    const b = batch.batchSize;
    const K = batch.nextViews ?? 1;
    const metrics: Metrics = {};
    const y = tf.tidy(() => {
      const reward = tf.tensor2d(batch.reward, [b, 1]);
      const notDone = tf.tensor2d(batch.notDone, [b, 1]);
      const alpha = tf.exp(P.get('logAlpha')!) as tf.Scalar;
      const mlp = this.kernels.mlp('none');
      const { mu, logStdRaw } = actorForward(latent(uNext, P, 'actor'), mlpParams(P, 'actor'), A, mlp);
      const pol = L.tanhGaussian(mu, logStdRaw, tf.tensor2d(noise, [K * b, A]), cfg.actorLogStdMin, cfg.actorLogStdMax);
      const zNextT = latent(uNextT, P, 'target.critic');
      const q1 = qForward(zNextT, pol.action, mlpParams(P, 'target.q1'), mlp);
      const q2 = qForward(zNextT, pol.action, mlpParams(P, 'target.q2'), mlp);
      const target = K === 1
        ? L.criticTarget(reward, notDone, q1, q2, pol.logPi, alpha, cfg.discount)
        : L.averageViews(L.criticTarget(tf.tile(reward, [K, 1]), tf.tile(notDone, [K, 1]), q1, q2, pol.logPi, alpha, cfg.discount), K);
      metrics.targetQ = tf.keep(tf.mean(target) as tf.Scalar);
      metrics.batchReward = tf.keep(tf.mean(reward) as tf.Scalar);
      metrics.alpha = tf.keep(alpha.clone()); // the temperature this update uses (before its own step)
      return target as tf.Tensor2D;
    });
    return { y, metrics };
  }

  /**
   * The Q loss on the anchor pass uA (M x B rows: the mean over all rows
   * against y repeated M times is the average over views of each view's
   * loss), its gradient through the whole encoder, one Adam step.
   */
  private async updateCritic(uA: tf.Tensor2D, y: tf.Tensor2D, batch: Batch, M: number): Promise<Metrics> {
    const P = this.params;
    const metrics: Metrics = {};
    const names = [...lnNames('critic'), ...mlpNames('q1'), ...mlpNames('q2')];
    const { value, grads } = headLossGrads([uA], names, names.map((n) => P.get(n)!), ([u], m) => {
      const action = tf.tensor2d(batch.action, [batch.batchSize, this.spec.actionDim]);
      const z = latent(u!, m, 'critic');
      const act = M === 1 ? action : tf.tile(action, [M, 1]) as tf.Tensor2D;
      const mlp = this.kernels.mlp('all');
      const q1 = qForward(z, act, mlpParams(m, 'q1'), mlp);
      const q2 = qForward(z, act, mlpParams(m, 'q2'), mlp);
      metrics.qMean = tf.keep(tf.mean(tf.add(q1, q2)).div(2) as tf.Scalar);
      return L.criticLoss(q1, q2, M === 1 ? y : tf.tile(y, [M, 1]) as tf.Tensor2D);
    });
    metrics.criticLoss = value;
    const all = await this.throughTrunk(grads, 'anchor', convParams(P, this.numLayers), P, 'critic');
    metrics.criticGradNorm = applyGradients(all, this.onCriticGradients, this.kernels.native, this.criticOpt);
    return metrics;
  }

  /**
   * The actor's loss alpha log pi - min Q on the critic-updated encoder,
   * detached from the convs (they are the critic's): uActor and uCritic are
   * the two heads' outputs on obs. Then the temperature's loss on the same
   * log pi. One Adam step each.
   */
  private async updateActorAndAlpha(uActor: tf.Tensor2D, uCritic: tf.Tensor2D, noise: Float32Array): Promise<Metrics> {
    const cfg = this.config;
    const P = this.params;
    const A = this.spec.actionDim;
    const metrics: Metrics = {};
    const names = [...lnNames('actor'), ...mlpNames('actor')];
    let logPi: tf.Tensor2D | null = null;
    const { value, grads } = headLossGrads([uActor], names, names.map((n) => P.get(n)!), ([u], m) => {
      const alpha = tf.exp(P.get('logAlpha')!) as tf.Scalar;
      const zCritic = latent(uCritic, P, 'critic');
      const eps = tf.tensor2d(noise, [uActor.shape[0], A]);
      const { mu, logStdRaw } = actorForward(latent(u!, m, 'actor'), mlpParams(m, 'actor'), A, this.kernels.mlp('all'));
      const pol = L.tanhGaussian(mu, logStdRaw, eps, cfg.actorLogStdMin, cfg.actorLogStdMax);
      // the critic is fixed here: its MLPs are differentiated in their input (the action) only
      const critic = this.kernels.mlp('input');
      const q1 = qForward(zCritic, pol.action, mlpParams(P, 'q1'), critic);
      const q2 = qForward(zCritic, pol.action, mlpParams(P, 'q2'), critic);
      logPi = tf.keep(pol.logPi.clone());
      metrics.entropy = tf.keep(tf.mean(L.gaussianEntropy(pol.logStd)) as tf.Scalar);
      return L.actorLoss(pol.logPi, q1, q2, alpha);
    });
    metrics.actorLoss = value;
    const actorGrads = await this.throughTrunk(grads, 'detached', convParams(P, this.numLayers), P, 'actor');
    metrics.actorGradNorm = applyGradients(actorGrads, this.onActorGradients, this.kernels.native, this.actorOpt);

    const lp = logPi as unknown as tf.Tensor2D;
    const alphaGrads = tidyMap(() => {
      metrics.logPi = tf.keep(tf.mean(lp) as tf.Scalar);
      const out = tf.valueAndGrads((la: tf.Tensor) => L.alphaLoss(la, lp, this.targetEntropy))([P.get('logAlpha')!]);
      metrics.alphaLoss = tf.keep(out.value as tf.Scalar);
      return new Map<string, tf.Tensor>([['logAlpha', out.grads[0]!]]);
    });
    lp.dispose();
    this.alphaOpt.step(alphaGrads);
    tf.dispose([...alphaGrads.values()]);
    return metrics;
  }

  /** Target networks follow the online ones: Q heads at criticTau, the encoder (and an objective's target heads) at encoderTau. */
  private softUpdateTargets(): void {
    softUpdate(this.params, [...mlpNames('q1'), ...mlpNames('q2')], this.config.criticTau, this.kernels.native);
    softUpdate(this.params, [...convNames(this.numLayers), ...headNames('critic')], this.config.encoderTau, this.kernels.native);
    this.aux?.ema?.(this.params, this.config.encoderTau);
  }

  /**
   * The aux loss's encoder passes, queued behind the actor's: the momentum
   * encoder's (the critic target's, after its EMA; no gradient) on the
   * positive and the anchor crops, and an online pass of the positive crop
   * at the start-of-update parameters (its backward re-runs it, see updateAux).
   */
  private startAuxPasses(snapshot: ReadonlyMap<string, tf.Tensor>) {
    const P = this.params;
    const needs = this.auxNeeds;
    const targetPass = (key: 'pos' | 'obs') =>
      this.passes.start(key, convParams(P, this.numLayers, 'target.'), [denseOf(P, 'target.critic')]);
    return {
      posT: needs.targetPos ? targetPass('pos') : null,
      obsT: needs.targetObs ? targetPass('obs') : null,
      posOnline: needs.onlinePos
        ? this.passes.start('pos', convParams(snapshot, this.numLayers), [denseOf(snapshot, 'critic')])
        : null,
    };
  }

  /**
   * One step of the aux objective at the start-of-update encoder (`snapshot`):
   * its loss and gradients here, the encoder-output gradients back through the
   * trunk. views.uA is the anchor pass still kept in the trunk's 'anchor' slot;
   * an objective with a second online view (views.uP: SimCLR, BYOL, Barlow)
   * gets that view's conv gradient by re-running the positive crop as the
   * anchor after the first backward (the trunk keeps one anchor pass), and the
   * two views' encoder gradients are summed.
   */
  private async updateAux(aux: AuxObjective, views: AuxInputs, snapshot: Map<string, tf.Tensor>): Promise<Metrics> {
    const P = this.params;
    const metrics: Metrics = {};
    const recorded: Metrics = {};
    const names = [...lnNames('critic'), ...aux.ownNames];
    const us = views.uP ? [views.uA, views.uP] : [views.uA];
    const { value, grads } = headLossGrads(us, names, names.map((n) => snapshot.get(n) ?? P.get(n)!), ([uA, uP], m) =>
      aux.loss({ ...views, uA: uA!, uP: uP ?? null, params: m, fixed: P }, (name, t) => (recorded[name] = tf.keep(t))));
    metrics[`${aux.metricPrefix}Loss`] = value;
    Object.assign(metrics, recorded);
    const encoder = convParams(snapshot, this.numLayers);
    let all: Grads;
    try {
      all = await this.throughTrunk({ ...grads, duPos: null }, 'anchor', encoder, snapshot, 'critic');
    } catch (error) {
      grads.duPos?.dispose();
      throw error;
    }
    if (grads.duPos) {
      const duPos = grads.duPos;
      try {
        const [again] = await this.passes.forward('pos', encoder, [denseOf(snapshot, 'critic')], 'anchor');
        again!.dispose();
        addInto(all, await this.throughTrunk({ params: new Map(), du: duPos, duPos: null }, 'anchor', encoder, snapshot, 'critic'));
      } catch (error) {
        if (!duPos.isDisposed) duPos.dispose();
        tf.dispose([...all.values()]);
        throw error;
      }
    }
    // the reference steps its encoder_optimizer first, then cpc_optimizer; with equal
    // moment histories both deltas are the same, so the order changes nothing
    metrics[`${aux.metricPrefix}GradNorm`] = applyGradients(all, this.onAuxGradients, this.kernels.native, ...this.encoderRepeatOpts, this.auxOpt!);
    await aux.afterStep?.(views);
    return metrics;
  }

  /**
   * A head loss's parameter gradients completed by the trunk's backward pass
   * of `slot` for its encoder-output gradient (consumed): the head's dense
   * layer as `<prefix>.fc.*` and, for the anchor, the conv stack, in that order.
   */
  private async throughTrunk(
    grads: HeadLossGrads, slot: 'anchor' | 'detached', conv: ConvParams, heads: ReadonlyMap<string, tf.Tensor>, prefix: string,
  ): Promise<Grads> {
    let g: TrunkGrads;
    try {
      g = await this.passes.backward(slot, conv, denseOf(heads, prefix), grads.du);
    } catch (error) {
      tf.dispose([...grads.params.values()]);
      throw error;
    }
    const out = grads.params;
    out.set(`${prefix}.fc.w`, g.head.w);
    out.set(`${prefix}.fc.b`, g.head.b);
    if (g.conv) convNames(this.numLayers).forEach((n, i) => out.set(n, i % 2 === 0 ? g.conv!.w[i >> 1]! : g.conv!.b[i >> 1]!));
    return out;
  }

  private parts(): AgentParts {
    const optimizers: Array<[string, Adam | null]> = [['critic', this.criticOpt], ['actor', this.actorOpt], ['alpha', this.alphaOpt]];
    if (this.aux) optimizers.push([this.aux.optimizerKey, this.auxOpt]);
    for (const [i, opt] of this.encoderRepeatOpts.entries()) optimizers.push([`encoderRepeat${i + 1}`, opt]);
    return { auxName: this.config.aux, spec: this.spec, params: this.params, optimizers, aux: this.aux, precision: this.passes.trunk.precision };
  }

  async getState(): Promise<AgentState> {
    this.assertLive();
    return captureAgentState(this.parts(), this.rng, this.updates);
  }

  /** Throws AgentError saying why, when `state` (read from a checkpoint, of any shape) is not a state of this agent; changes nothing. */
  checkState(state: unknown): asserts state is AgentState {
    this.assertLive();
    checkAgentState(this.parts(), state);
  }

  setState(state: AgentState): void {
    this.assertLive();
    const { rng, updates } = restoreAgentState(this.parts(), state);
    this.rng = rng;
    this.updates = updates;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.passes.trunk.dispose();
    for (const v of this.params.values()) v.dispose();
    this.criticOpt.dispose();
    this.actorOpt.dispose();
    this.alphaOpt.dispose();
    this.auxOpt?.dispose();
    for (const opt of this.encoderRepeatOpts) opt.dispose();
    this.aux?.dispose?.();
  }

  private assertLive(): void {
    if (this.disposed) throw new AgentError('agent was disposed');
  }
}

/** The update's scalars, read back in one transfer. */
async function readMetrics(metrics: Metrics): Promise<UpdateMetrics> {
  const keys = Object.keys(metrics);
  const packed = tf.stack(keys.map((k) => metrics[k]!));
  const values = await packed.data();
  packed.dispose();
  const out: UpdateMetrics = {};
  keys.forEach((k, i) => (out[k] = values[i]!));
  return out;
}

/** Feature size of the conv stack for a spec and config (for FLOP counts and tests). */
export function agentFeatureDim(config: AgentConfig, spec: AgentSpec): number {
  return featureDim({ ...spec, numConvLayers: config.numConvLayers, numFilters: config.numFilters, latentDim: config.latentDim, hiddenDim: config.hiddenDim });
}
