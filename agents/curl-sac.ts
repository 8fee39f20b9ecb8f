import * as tf from '@tensorflow/tfjs';
import type { Batch } from '../replay/types.js';
import { activeBackendName } from '../src/backend.js';
import type { BackendName } from '../src/config/schema.js';
import { libtorchThreads, resolveConvEngine } from '../src/conv-engine.js';
import { Rng } from '../src/core/rng.js';
import { Adam } from './adam.js';
import { createAuxObjective } from './aux/index.js';
import type { AuxInputs, AuxObjective } from './aux/index.js';
import type { AdamState } from './adam.js';
import * as L from './losses.js';
import { actorForward, convForward, headForward, qForward } from './networks.js';
import type { ConvParams } from './networks.js';
import { layerNorm } from './ops.js';
import {
  convNames, convParams, createParams, featureDim, headNames, headParams, mlpNames, mlpParams,
} from './params.js';
import type { ParamMap } from './params.js';
import { createTrunk } from './tower/trunk.js';
import type { DenseParams, EncoderTrunk, TrunkGrads } from './tower/trunk.js';
import type { AgentConfig, AgentSpec, AgentState, UpdateMetrics } from './types.js';
import { AgentError } from './types.js';

type TensorMap = ReadonlyMap<string, tf.Tensor>;

/** Key of the trunk output's gradient among a loss's gradients (no parameter has this name). */
const DU = 'du';
/** The same for an aux loss's second online view (the positive crop). */
const DU_POS = 'du.pos';

/** An encoder head's dense layer (run by the trunk) and its LayerNorm (run here). */
function denseOf(params: ReadonlyMap<string, tf.Tensor>, prefix: string): DenseParams {
  const { fcW, fcB } = headParams(params, prefix);
  return { w: fcW, b: fcB };
}
function lnNames(prefix: string): string[] {
  return headNames(prefix).slice(2);
}
function normalize(u: tf.Tensor2D, params: ReadonlyMap<string, tf.Tensor>, prefix: string): tf.Tensor2D {
  const [g, b] = lnNames(prefix).map((n) => params.get(n));
  if (!g || !b) throw new AgentError(`missing LayerNorm parameters of "${prefix}"`);
  return layerNorm(u, g as tf.Tensor1D, b as tf.Tensor1D);
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

function globalNorm(grads: Iterable<tf.Tensor>): tf.Scalar {
  return tf.tidy(() => tf.sqrt(tf.addN([...grads].map((g) => tf.sum(tf.square(g))))) as tf.Scalar);
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
  private readonly auxOpt: Adam | null;
  /**
   * Opt-in (curlEncoderSteps > 1): further Adams over the encoder alone that
   * step it with the same aux gradient, as the CURL reference code does by
   * accident of bookkeeping (its encoder_optimizer and cpc_optimizer both hold
   * the encoder). Each keeps its own moments, like the reference's.
   */
  private readonly encoderRepeatOpts: Adam[];
  private rng: Rng;
  private updates = 0;
  private disposed = false;
  /** Wall-clock ms of each stage of the last update (the wasm and cpu backends run ops eagerly). */
  lastStageMs: Record<string, number> = {};
  private readonly numLayers: number;
  private readonly trunk: EncoderTrunk;
  /** Passes started ahead of the step that awaits them (disposed in the update's finally if it fails first). */
  private readonly inFlight: Array<Promise<tf.Tensor2D[]>> = [];
  /** Rows of the image sets the trunk holds now (B, or M * B for the obs phase of a DrQ update). */
  private trunkRows = 0;
  /** obsPositive repeated M times, so it loads beside M obs views (reused across updates). */
  private posTiled: Uint8Array | null = null;
  /**
   * Test seam: sees each update's aux-loss gradients, by parameter name, just
   * before the aux Adam applies them, so tests can check them against an
   * independent autodiff (after Adam only the sign survives a first step).
   * The tensors are disposed after the call: copy what you keep.
   */
  onAuxGradients: ((grads: ReadonlyMap<string, tf.Tensor>) => void) | null = null;
  /** The same seam under its older name (CURL was the only aux loss). */
  get onCurlGradients(): ((grads: ReadonlyMap<string, tf.Tensor>) => void) | null {
    return this.onAuxGradients;
  }
  set onCurlGradients(fn: ((grads: ReadonlyMap<string, tf.Tensor>) => void) | null) {
    this.onAuxGradients = fn;
  }
  /** Test seam, as onAuxGradients: the critic's gradients (Q loss averaged over the M obs views) before its Adam step. */
  onCriticGradients: ((grads: ReadonlyMap<string, tf.Tensor>) => void) | null = null;

  constructor(config: AgentConfig, spec: AgentSpec, seed: number) {
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
    // the aux objective's parameters come next from the same stream (CURL's W where it always was)
    this.aux = createAuxObjective(config, this.params, initRng);
    const adam = { lr: config.lr, beta1: config.beta1 };
    this.criticOpt = new Adam(this.params, [...convNames(this.numLayers), ...headNames('critic'), ...mlpNames('q1'), ...mlpNames('q2')], adam);
    // the actor's convs are the critic's and always detached for its loss, so its optimiser does not hold them
    this.actorOpt = new Adam(this.params, [...headNames('actor'), ...mlpNames('actor')], adam);
    this.alphaOpt = new Adam(this.params, ['logAlpha'], { lr: config.alphaLr, beta1: config.alphaBeta1 });
    this.auxOpt = this.aux
      ? new Adam(this.params, [...convNames(this.numLayers), ...headNames('critic'), ...this.aux.ownNames], adam)
      : null;
    const encoderSteps = this.aux ? (config.curlEncoderSteps ?? 1) : 1;
    this.encoderRepeatOpts = Array.from(
      { length: encoderSteps - 1 },
      () => new Adam(this.params, [...convNames(this.numLayers), ...headNames('critic')], adam),
    );
    const engine = resolveConvEngine(config.convEngine ?? 'auto', activeBackendName()).engine;
    this.trunk = createTrunk({
      engine,
      threads: libtorchThreads(config.convWorkers),
      numLayers: config.numConvLayers,
      numFilters: config.numFilters,
      obsShape: spec.obsShape,
      microBatch: config.microBatch,
      // with an aux loss a second backward pass meets the same activations
      cacheTransposes: this.aux !== null,
      workers: engine === 'tfjs' ? (config.convWorkers ?? 0) : 0,
      backend: activeBackendName() as BackendName,
    });
  }

  /** Threads an update's conv passes are split over (tfjs engine; 1 on libtorch). */
  get convShards(): number {
    return this.trunk.shards;
  }

  /** Which engine runs the conv passes, on how many threads. */
  get convEngine(): { engine: 'tfjs' | 'libtorch'; threads: number } {
    return { engine: this.trunk.engine, threads: this.trunk.threads };
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
    }
    if (batch.action.length !== b * this.spec.actionDim) fail(`action has ${batch.action.length} values, expected ${b * this.spec.actionDim}`);
    if (batch.reward.length !== b) fail(`reward has ${batch.reward.length} values, expected ${b}`);
    if (batch.notDone.length !== b) fail(`notDone has ${batch.notDone.length} values, expected ${b}`);
  }

  /**
   * A loss's gradients, holding its trunk output's gradient under DU,
   * completed by the trunk's backward pass of `slot`: the head's dense layer
   * (as `<prefix>.fc.*`) and, for the anchor, the conv stack.
   */
  private async withTrunkGrads(
    grads: Map<string, tf.Tensor>, slot: 'anchor' | 'detached', conv: ConvParams, head: DenseParams, prefix: string,
  ): Promise<Map<string, tf.Tensor>> {
    let du = grads.get(DU) as tf.Tensor2D;
    grads.delete(DU);
    if (du.shape[0] < this.trunkRows) {
      // a loss on view 0 only (actor, CURL) of a pass over M views: the other views' rows get no gradient
      const rows = du;
      du = tf.tidy(() => tf.concat([rows, tf.zeros([this.trunkRows - rows.shape[0], rows.shape[1]])], 0) as tf.Tensor2D);
      rows.dispose();
    }
    let g: TrunkGrads;
    try {
      g = await this.trunk.backward(slot, conv, head, du, slot === 'anchor');
    } finally {
      du.dispose();
    }
    grads.set(`${prefix}.fc.w`, g.head.w);
    grads.set(`${prefix}.fc.b`, g.head.b);
    if (g.conv) convNames(this.numLayers).forEach((n, i) => grads.set(n, i % 2 === 0 ? g.conv!.w[i >> 1]! : g.conv!.b[i >> 1]!));
    return grads;
  }

  async update(batch: Batch, step: number): Promise<UpdateMetrics> {
    this.assertLive();
    this.validateBatch(batch);
    if (!Number.isInteger(step) || step < 0) throw new AgentError(`update: step must be a non-negative integer, got ${step}`);
    const cfg = this.config;
    const b = batch.batchSize;
    const A = this.spec.actionDim;
    const layers = this.numLayers;
    const doActor = step % cfg.actorUpdateFreq === 0;
    const doTarget = step % cfg.criticTargetUpdateFreq === 0;
    const aux = this.aux;
    // DrQ (Kostrikov, Yarats & Fergus 2020, eq. 2-3): K views of next_obs for the target, M of obs for the Q loss
    const K = batch.nextViews ?? 1;
    const M = batch.obsViews ?? 1;
    // host-side draws first, in a fixed order, so the Rng stream is reproducible (view 0's first: K = 1 draws as before)
    const noiseNext = this.normals(K * b * A);
    const noiseActor = doActor ? this.normals(b * A) : null;

    const metrics: Record<string, tf.Scalar> = {};
    const P = this.params;
    const action = tf.tensor2d(batch.action, [b, A]);
    const reward = tf.tensor2d(batch.reward, [b, 1]);
    const notDone = tf.tensor2d(batch.notDone, [b, 1]);
    const temp: tf.Tensor[] = [];
    let snapshot: Map<string, tf.Tensor> | null = null;
    const stage = this.stageTimer();
    try {
      // K = M = 1: one load of the three image sets. Otherwise the K next views go first and the
      // M obs views (with the positive repeated M times: the trunk holds equal rows per set) after.
      const onePhase = K === 1 && M === 1;
      const posImages = aux ? { pos: M === 1 ? batch.obsPositive! : this.tiled(batch.obsPositive!, M) } : {};
      if (onePhase) await this.loadTrunk({ obs: batch.obs, next: batch.nextObs, ...posImages }, b);
      else await this.loadTrunk({ next: batch.nextObs }, K * b);
      stage('upload');

      // --- 1. critic target, no gradient -------------------------------------------
      const [uNext] = await this.trunk.forward('next', convParams(P, layers), [denseOf(P, 'actor')]);
      temp.push(uNext!);
      const [uNextT] = await this.trunk.forward('next', convParams(P, layers, 'target.'), [denseOf(P, 'target.critic')]);
      temp.push(uNextT!);
      // queued behind the target passes; the anchor pass runs on the engine while the target is computed here
      const obsLoad = onePhase ? Promise.resolve() : this.loadTrunk({ obs: batch.obs, ...posImages }, M * b);
      obsLoad.catch(() => undefined);
      const anchorPass = this.started(this.trunk.forward('obs', convParams(P, layers), [denseOf(P, 'critic')], 'anchor'));
      const y = tf.tidy(() => {
        const alpha = tf.exp(P.get('logAlpha')!) as tf.Scalar;
        const zNext = normalize(uNext!, P, 'actor');
        const { mu, logStdRaw } = actorForward(zNext, mlpParams(P, 'actor'), A);
        const pol = L.tanhGaussian(mu, logStdRaw, tf.tensor2d(noiseNext, [K * b, A]), cfg.actorLogStdMin, cfg.actorLogStdMax);
        const zNextT = normalize(uNextT!, P, 'target.critic');
        const q1 = qForward(zNextT, pol.action, mlpParams(P, 'target.q1'));
        const q2 = qForward(zNextT, pol.action, mlpParams(P, 'target.q2'));
        const target = K === 1
          ? L.criticTarget(reward, notDone, q1, q2, pol.logPi, alpha, cfg.discount)
          : L.averageViews(L.criticTarget(tf.tile(reward, [K, 1]), tf.tile(notDone, [K, 1]), q1, q2, pol.logPi, alpha, cfg.discount), K);
        metrics.targetQ = tf.keep(tf.mean(target) as tf.Scalar);
        metrics.batchReward = tf.keep(tf.mean(reward) as tf.Scalar);
        metrics.alpha = tf.keep(alpha.clone()); // the temperature this update uses (before its own step)
        return target;
      });
      temp.push(y);
      stage('target');

      // --- 2. one encoder pass of the anchor crop, shared by critic and the aux loss --
      // (over all M views: the critic's gradient comes from each; the aux loss and the actor read view 0)
      await obsLoad;
      const [uA] = await anchorPass;
      temp.push(uA!);
      if (aux) {
        // the aux gradient is taken at these start-of-update parameters (see class doc)
        snapshot = new Map([...convNames(layers), ...headNames('critic')].map((n) => [n, P.get(n)!.clone()]));
      }
      stage('anchor');

      // --- 3. critic ----------------------------------------------------------------
      const criticHeadNames = [...lnNames('critic'), ...mlpNames('q1'), ...mlpNames('q2')];
      const headGrads = tidyMap(() => {
        const { value, grads } = tf.valueAndGrads((u: tf.Tensor, ...ps: tf.Tensor[]) => {
          const m = new Map(criticHeadNames.map((n, i) => [n, ps[i]!]));
          const z = normalize(u as tf.Tensor2D, m, 'critic');
          // M views: the mean over M x B rows against y repeated M times = the average over views of each view's loss
          const act = M === 1 ? action : tf.tile(action, [M, 1]) as tf.Tensor2D;
          const q1 = qForward(z, act, mlpParams(m, 'q1'));
          const q2 = qForward(z, act, mlpParams(m, 'q2'));
          metrics.qMean = tf.keep(tf.mean(tf.add(q1, q2)).div(2) as tf.Scalar);
          return L.criticLoss(q1, q2, M === 1 ? y : tf.tile(y, [M, 1]) as tf.Tensor2D);
        })([uA!, ...criticHeadNames.map((n) => P.get(n)!)]);
        metrics.criticLoss = tf.keep(value as tf.Scalar);
        return new Map<string, tf.Tensor>([[DU, grads[0]!], ...criticHeadNames.map((n, i) => [n, grads[i + 1]!] as [string, tf.Tensor])]);
      });
      const criticGrads = await this.withTrunkGrads(headGrads, 'anchor', convParams(P, layers), denseOf(P, 'critic'), 'critic');
      metrics.criticGradNorm = globalNorm(criticGrads.values());
      this.onCriticGradients?.(criticGrads);
      this.criticOpt.step(criticGrads);
      tf.dispose([...criticGrads.values()]);
      stage('critic');

      // --- 4. target networks -------------------------------------------------------
      // before the actor (the reference's order is actor, then EMA): the EMA reads only
      // the critic, which the actor step leaves alone, so the numbers are the same, and the
      // keys' pass below can start while the actor trains
      if (doTarget) this.softUpdateTargets();
      stage('ema');

      // --- 5. actor and temperature (convs detached; they are the critic's, just updated)
      const actorPass = doActor
        ? this.trunk.forward('obs', convParams(P, layers), [denseOf(P, 'actor'), denseOf(P, 'critic')], 'detached')
        : null;
      // the aux loss's other encoder passes, queued behind the actor's: CURL's keys (the momentum
      // encoder = critic target's, no gradient, after its EMA above), an online pass of the positive
      // crop at the start-of-update parameters (its backward re-runs it as the anchor, see updateAux)
      const targetPass = (key: 'pos' | 'obs') => this.started(this.trunk.forward(key, convParams(P, layers, 'target.'), [denseOf(P, 'target.critic')]));
      const auxPasses = aux
        ? {
          posT: aux.needs.targetPos ? targetPass('pos') : null,
          obsT: aux.needs.targetObs ? targetPass('obs') : null,
          posOnline: aux.needs.onlinePos
            ? this.started(this.trunk.forward('pos', convParams(snapshot!, layers), [denseOf(snapshot!, 'critic')]))
            : null,
        }
        : null;
      if (actorPass) {
        const us = await actorPass;
        temp.push(...us);
        const [uActor, uCritic] = M === 1 ? us : this.firstView(us, b, temp);
        await this.updateActorAndAlpha(uActor!, uCritic!, noiseActor!, metrics);
      }
      stage('actor');

      // --- 6. aux loss (CURL or another objective of agents/aux) ------------------------
      if (aux && auxPasses) {
        const one = async (p: Promise<tf.Tensor2D[]> | null): Promise<tf.Tensor2D | null> => {
          if (!p) return null;
          const [u] = await p;
          temp.push(u!);
          return u!;
        };
        const uPosT = await one(auxPasses.posT);
        const uObsT = await one(auxPasses.obsT);
        const uP = await one(auxPasses.posOnline);
        // M obs views (DrQ): every pass ran over M x B rows; the aux loss reads view 0
        const view0 = (u: tf.Tensor2D | null): tf.Tensor2D | null => (u && M > 1 ? this.firstView([u], b, temp)[0]! : u);
        await this.updateAux(aux, { uA: view0(uA!)!, uP: view0(uP), uPosT: view0(uPosT), uObsT: view0(uObsT), params: P, fixed: P }, snapshot!, metrics);
      }
      stage(aux?.metricPrefix === 'curl' || !aux ? 'curl' : 'aux');

      this.updates += 1;
      const keys = Object.keys(metrics);
      const packed = tf.stack(keys.map((k) => metrics[k]!));
      const values = await packed.data();
      packed.dispose();
      const out: UpdateMetrics = {};
      keys.forEach((k, i) => (out[k] = values[i]!));
      return out;
    } finally {
      // a pass started ahead and never awaited (an earlier step failed) must not leak its outputs
      await Promise.all(this.inFlight.splice(0).map((p) => p.then((ts) => tf.dispose(ts), () => undefined)));
      await this.trunk.release();
      this.trunkRows = 0;
      if (snapshot) tf.dispose([...snapshot.values()]);
      tf.dispose([action, reward, notDone, ...temp, ...Object.values(metrics)]);
    }
  }

  private loadTrunk(images: Parameters<EncoderTrunk['load']>[0], rows: number): Promise<void> {
    this.trunkRows = rows;
    return this.trunk.load(images, rows);
  }

  /** `bytes` repeated `times` times, in a buffer kept for the next update. */
  private tiled(bytes: Uint8Array, times: number): Uint8Array {
    const n = bytes.length * times;
    if (this.posTiled?.length !== n) this.posTiled = new Uint8Array(n);
    for (let i = 0; i < times; i++) this.posTiled.set(bytes, i * bytes.length);
    return this.posTiled;
  }

  /** The first b rows (view 0) of each tensor; the slices go to `temp` for disposal. */
  private firstView(ts: tf.Tensor2D[], b: number, temp: tf.Tensor[]): tf.Tensor2D[] {
    const out = ts.map((t) => tf.slice(t, [0, 0], [b, -1]) as tf.Tensor2D);
    temp.push(...out);
    return out;
  }

  /** A pass started now and awaited later: tracked, and its rejection handled until then. */
  private started(pass: Promise<tf.Tensor2D[]>): Promise<tf.Tensor2D[]> {
    pass.catch(() => undefined);
    this.inFlight.push(pass);
    return pass;
  }

  private stageTimer(): (name: string) => void {
    this.lastStageMs = {};
    let t = performance.now();
    return (name) => {
      const now = performance.now();
      this.lastStageMs[name] = now - t;
      t = now;
    };
  }

  /**
   * uActor, uCritic: the actor's and the critic's head outputs (before their
   * LayerNorms) on the obs at the critic-updated convs, detached from them.
   */
  private async updateActorAndAlpha(uActor: tf.Tensor2D, uCritic: tf.Tensor2D, noise: Float32Array, metrics: Record<string, tf.Scalar>): Promise<void> {
    const cfg = this.config;
    const P = this.params;
    const A = this.spec.actionDim;
    const b = uActor.shape[0];
    const actorNames = [...lnNames('actor'), ...mlpNames('actor')];
    let logPi: tf.Tensor2D | null = null;
    const lossGrads = tidyMap(() => {
      const alpha = tf.exp(P.get('logAlpha')!) as tf.Scalar;
      const zCritic = normalize(uCritic, P, 'critic');
      const eps = tf.tensor2d(noise, [b, A]);
      const { value, grads } = tf.valueAndGrads((u: tf.Tensor, ...ps: tf.Tensor[]) => {
        const m = new Map(actorNames.map((n, i) => [n, ps[i]!]));
        const z = normalize(u as tf.Tensor2D, m, 'actor');
        const { mu, logStdRaw } = actorForward(z, mlpParams(m, 'actor'), A);
        const pol = L.tanhGaussian(mu, logStdRaw, eps, cfg.actorLogStdMin, cfg.actorLogStdMax);
        const q1 = qForward(zCritic, pol.action, mlpParams(P, 'q1'));
        const q2 = qForward(zCritic, pol.action, mlpParams(P, 'q2'));
        logPi = tf.keep(pol.logPi.clone());
        metrics.entropy = tf.keep(tf.mean(L.gaussianEntropy(pol.logStd)) as tf.Scalar);
        return L.actorLoss(pol.logPi, q1, q2, alpha);
      })([uActor, ...actorNames.map((n) => P.get(n)!)]);
      metrics.actorLoss = tf.keep(value as tf.Scalar);
      return new Map<string, tf.Tensor>([[DU, grads[0]!], ...actorNames.map((n, i) => [n, grads[i + 1]!] as [string, tf.Tensor])]);
    });
    const actorGrads = await this.withTrunkGrads(lossGrads, 'detached', convParams(P, this.numLayers), denseOf(P, 'actor'), 'actor');
    metrics.actorGradNorm = globalNorm(actorGrads.values());
    this.actorOpt.step(actorGrads);
    tf.dispose([...actorGrads.values()]);

    const lp = logPi as unknown as tf.Tensor2D;
    const alphaGrads = tidyMap(() => {
      const logAlpha = P.get('logAlpha')!;
      metrics.logPi = tf.keep(tf.mean(lp) as tf.Scalar);
      const { value, grads } = tf.valueAndGrads((la: tf.Tensor) => L.alphaLoss(la, lp, this.targetEntropy))([logAlpha]);
      metrics.alphaLoss = tf.keep(value as tf.Scalar);
      return new Map<string, tf.Tensor>([['logAlpha', grads[0]!]]);
    });
    lp.dispose();
    this.alphaOpt.step(alphaGrads);
    tf.dispose([...alphaGrads.values()]);
  }

  /** target <- tau * online + (1 - tau) * target: Q heads at criticTau, encoder at encoderTau. */
  private softUpdateTargets(): void {
    const cfg = this.config;
    tf.tidy(() => {
      const blend = (names: string[], tau: number) => {
        for (const n of names) {
          const t = this.params.get(`target.${n}`)!;
          t.assign(tf.add(tf.mul(this.params.get(n)!, tau), tf.mul(t, 1 - tau)));
        }
      };
      blend([...mlpNames('q1'), ...mlpNames('q2')], cfg.criticTau);
      blend([...convNames(this.numLayers), ...headNames('critic')], cfg.encoderTau);
    });
    // an objective's own target heads (BYOL's projector) follow with the target encoder
    this.aux?.ema?.(this.params, cfg.encoderTau);
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
  private async updateAux(aux: AuxObjective, views: AuxInputs, snapshot: Map<string, tf.Tensor>, metrics: Record<string, tf.Scalar>): Promise<void> {
    const P = this.params;
    const layers = this.numLayers;
    const trainable = [...lnNames('critic'), ...aux.ownNames];
    const start = trainable.map((n) => snapshot.get(n) ?? P.get(n)!);
    const withPos = views.uP !== null;
    // the tape's inputs: uA, then uP when there is a second online view, then the trainable parameters
    const off = withPos ? 2 : 1;
    const headGrads = tidyMap(() => {
      const recorded: Record<string, tf.Scalar> = {};
      const { value, grads } = tf.valueAndGrads((...ts: tf.Tensor[]) => {
        const m = new Map(trainable.map((n, i) => [n, ts[i + off]!]));
        const inputs: AuxInputs = { ...views, uA: ts[0] as tf.Tensor2D, uP: withPos ? (ts[1] as tf.Tensor2D) : null, params: m, fixed: P };
        return aux.loss(inputs, (name, t) => (recorded[name] = tf.keep(t)));
      })([views.uA, ...(withPos ? [views.uP!] : []), ...start]);
      metrics[`${aux.metricPrefix}Loss`] = tf.keep(value as tf.Scalar);
      Object.assign(metrics, recorded);
      return new Map<string, tf.Tensor>([
        [DU, grads[0]!],
        ...(withPos ? [[DU_POS, grads[1]!] as [string, tf.Tensor]] : []),
        ...trainable.map((n, i) => [n, grads[i + off]!] as [string, tf.Tensor]),
      ]);
    });
    const duPos = headGrads.get(DU_POS) as tf.Tensor2D | undefined;
    headGrads.delete(DU_POS);
    let grads: Map<string, tf.Tensor>;
    try {
      grads = await this.withTrunkGrads(headGrads, 'anchor', convParams(snapshot, layers), denseOf(snapshot, 'critic'), 'critic');
    } catch (error) {
      duPos?.dispose();
      tf.dispose([...headGrads.values()]);
      throw error;
    }
    if (duPos) {
      let posGrads: Map<string, tf.Tensor>;
      try {
        const [again] = await this.trunk.forward('pos', convParams(snapshot, layers), [denseOf(snapshot, 'critic')], 'anchor');
        again!.dispose();
        posGrads = await this.withTrunkGrads(new Map([[DU, duPos]]), 'anchor', convParams(snapshot, layers), denseOf(snapshot, 'critic'), 'critic');
      } catch (error) {
        if (!duPos.isDisposed) duPos.dispose();
        tf.dispose([...grads.values()]);
        throw error;
      }
      for (const [n, g] of posGrads) {
        const a = grads.get(n)!;
        grads.set(n, tf.add(a, g));
        tf.dispose([a, g]);
      }
    }
    metrics[`${aux.metricPrefix}GradNorm`] = globalNorm(grads.values());
    this.onAuxGradients?.(grads);
    // the reference steps its encoder_optimizer first, then cpc_optimizer; with equal
    // moment histories both deltas are the same, so the order changes nothing
    for (const opt of this.encoderRepeatOpts) opt.step(grads);
    this.auxOpt!.step(grads);
    tf.dispose([...grads.values()]);
    await aux.afterStep?.(views);
  }

  async getState(): Promise<AgentState> {
    this.assertLive();
    const params: AgentState['params'] = {};
    for (const [name, v] of this.params) params[name] = { shape: [...v.shape], data: (await v.data()) as Float32Array };
    const optimizers: Record<string, AdamState> = {
      critic: await this.criticOpt.getState(),
      actor: await this.actorOpt.getState(),
      alpha: await this.alphaOpt.getState(),
    };
    if (this.aux && this.auxOpt) optimizers[this.aux.optimizerKey] = await this.auxOpt.getState();
    for (const [i, opt] of this.encoderRepeatOpts.entries()) optimizers[`encoderRepeat${i + 1}`] = await opt.getState();
    const auxState = this.aux?.getState ? await this.aux.getState() : {};
    return {
      version: 1,
      aux: this.config.aux,
      obsShape: [...this.spec.obsShape],
      actionDim: this.spec.actionDim,
      params,
      optimizers,
      rng: this.rng.getState(),
      updates: this.updates,
      ...(Object.keys(auxState).length > 0 ? { auxState } : {}),
    };
  }

  setState(state: AgentState): void {
    this.assertLive();
    if (state.version !== 1) throw new AgentError(`setState: unsupported state version ${String(state.version)}, expected 1`);
    if (state.aux !== this.config.aux) throw new AgentError(`setState: state is for aux '${state.aux}', this agent is '${this.config.aux}'`);
    if (state.actionDim !== this.spec.actionDim || state.obsShape.join() !== this.spec.obsShape.join()) {
      throw new AgentError(`setState: state is for obs [${state.obsShape}] / ${state.actionDim} actions, this agent has [${this.spec.obsShape}] / ${this.spec.actionDim}`);
    }
    const extra = Object.keys(state.params).filter((n) => !this.params.has(n));
    if (extra.length) throw new AgentError(`setState: unknown parameters ${extra.join(', ')}`);
    for (const [name, v] of this.params) {
      const rec = state.params[name];
      if (!rec) throw new AgentError(`setState: missing parameter "${name}"`);
      if (rec.data.length !== v.size || rec.shape.join() !== v.shape.join()) {
        throw new AgentError(`setState: parameter "${name}" has shape [${rec.shape}], expected [${v.shape}]`);
      }
    }
    const opts: Array<[string, Adam | null]> = [['critic', this.criticOpt], ['actor', this.actorOpt], ['alpha', this.alphaOpt]];
    if (this.aux) opts.push([this.aux.optimizerKey, this.auxOpt]);
    for (const [i, opt] of this.encoderRepeatOpts.entries()) opts.push([`encoderRepeat${i + 1}`, opt]);
    for (const [key, opt] of opts) {
      if (opt && !state.optimizers[key]) throw new AgentError(`setState: missing optimizer state "${key}"`);
    }
    // validates (and takes) the objective's non-variable state before any variable changes
    if (this.aux?.setState) this.aux.setState(state.auxState);
    else if (state.auxState && Object.keys(state.auxState).length > 0) throw new AgentError(`setState: state has aux state ${Object.keys(state.auxState).join(', ')} this agent does not use`);
    for (const [name, v] of this.params) {
      const rec = state.params[name]!;
      tf.tidy(() => v.assign(tf.tensor(rec.data, v.shape, 'float32')));
    }
    for (const [key, opt] of opts) if (opt) opt.setState(state.optimizers[key]!, `setState: optimizer "${key}"`);
    this.rng = Rng.fromState(state.rng);
    this.updates = state.updates;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.trunk.dispose();
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

/** Feature size of the conv stack for a spec and config (for FLOP counts and tests). */
export function agentFeatureDim(config: AgentConfig, spec: AgentSpec): number {
  return featureDim({ ...spec, numConvLayers: config.numConvLayers, numFilters: config.numFilters, latentDim: config.latentDim, hiddenDim: config.hiddenDim });
}
