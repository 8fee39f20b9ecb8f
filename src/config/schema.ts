/*
 * The one source of truth for a run's configuration. Defaults are the CURL
 * reference hyperparameters for DMControl (Srinivas, Laskin & Abbeel 2020;
 * see shared/DESIGN.md); per-task presets in experiments/presets/ override
 * the task-specific ones (action repeat, learning rate).
 *
 * Step counts named `*Steps`/`*Every` are ENVIRONMENT steps (physics-control
 * steps, i.e. agent steps x action repeat) unless the name says `agent`.
 */
import { z } from 'zod';
import { parseAugSpec, shiftSizeProblem } from '../../replay/aug-spec.js';
import { encoderOutputSide } from '../../agents/conv-size.js';
import { maxConvLayersFor, minCropFor } from './limits.js';

/**
 * Counts stay far below 2^53, where a float64 stops counting exactly (env
 * steps grow by the action repeat); 2^50 env steps is beyond any run.
 */
export const MAX_COUNT = 2 ** 50;
const positiveInt = z.number().int().positive().max(MAX_COUNT);
const nonNegativeInt = z.number().int().nonnegative().max(MAX_COUNT);
const probability = z.number().min(0).max(1);

export const backendNames = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export const auxNames = ['curl', 'none', 'simclr', 'byol', 'barlow', 'curl-debiased', 'curl-hard'] as const;
/** The aux losses built on CURL's bilinear InfoNCE (they take --aux-queue). */
export const curlFamily = ['curl', 'curl-debiased', 'curl-hard'] as const;
/**
 * Defaults of the aux hyperparameters that only some objectives read (their
 * fields are optional so that setting one for an objective that ignores it is
 * an error rather than silently unused; agents/aux reads these).
 */
export const auxDefaults = {
  /** SimCLR's NT-Xent temperature (Chen et al. 2020 use 0.1 at small batches too) */
  temperature: 0.1,
  /** Barlow Twins' off-diagonal weight at the paper's projection size 8192 (rescaled to auxProjDim, see agents/aux/barlow.ts) */
  lambda: 5e-3,
  /** class prior tau+ of curl-debiased (Chuang et al. 2020 use 0.1 on CIFAR-10); curl-hard uses 0 unless given */
  tauPlusDebiased: 0.1,
  /** concentration beta of curl-hard (Robinson et al. 2021) */
  beta: 1,
  /** hidden width and output size of the projection MLPs of simclr, byol, barlow */
  hiddenDim: 256,
  projDim: 128,
} as const;
/** Which aux objectives read each optional aux field. */
const auxFieldUsers = {
  auxTemperature: ['simclr'],
  auxLambda: ['barlow'],
  auxTauPlus: ['curl-debiased', 'curl-hard'],
  auxBeta: ['curl-hard'],
} as const;
export const convEngineNames = ['auto', 'libtorch', 'tfjs'] as const;

export const configSchema = z
  .object({
    // --- run -----------------------------------------------------------
    env: z.string().min(1).default('cartpole-swingup').describe('environment id (see `curl-rl envs`)'),
    aux: z.enum(auxNames).default('curl').describe(
      'auxiliary loss: curl (CURL), none (pixel SAC), simclr (NT-Xent), byol, barlow (Barlow Twins), curl-debiased, curl-hard (see agents/README.md)',
    ),
    seed: nonNegativeInt.default(1).describe('seed for env, replay sampling, network init and exploration'),
    backend: z.enum(backendNames).default('auto').describe('tfjs compute backend'),
    steps: positiveInt.default(100_000).describe('environment steps to train for'),
    runsDir: z.string().min(1).default('runs').describe('folder that holds run directories'),
    // --- environment ---------------------------------------------------
    actionRepeat: z.number().int().min(1).max(100).default(4).describe('physics-control steps per agent step'),
    imageSize: z.number().int().min(8).max(512).default(100).describe('rendered frame size (pixels, square)'),
    cropSize: z.number().int().min(8).max(512).default(84).describe('network input size after random/center crop'),
    frameStack: z.number().int().min(1).max(16).default(3).describe('frames stacked on the channel axis'),
    remoteCmd: z.string().optional().describe('command line of a remote env process (with --env remote)'),
    remoteTimeoutMs: positiveInt.default(30_000).describe('remote env: ms to wait for each answer after start-up before failing'),
    remoteStartupTimeoutMs: positiveInt
      .default(30_000)
      .describe('remote env: ms to wait for the process to start and describe its spaces (imports can be slow)'),
    // --- replay --------------------------------------------------------
    replayCapacity: positiveInt.default(100_000).describe('transitions kept in the replay buffer'),
    initSteps: nonNegativeInt.default(1000).describe('AGENT steps of uniform random actions before updates start'),
    batchSize: z.number().int().min(2).max(4096).default(512).describe('transitions per update'),
    // --- augmentation (replay/aug-spec.ts) ------------------------------
    aug: z.string().min(1).default('crop')
      .describe("training-time augmentation of the obs, positive and next_obs views: crop = CURL's random crop; shift = DrQ's pad-4 edge-replicated random shift at the rendered size (needs --crop-size = --image-size; DrQ: 84); jitter = colour jitter (brightness, contrast, saturation, hue), cutout = a zeroed rectangle (both RAD), each the same on every frame of a stack"),
    augK: z.number().int().min(1).max(16).default(1)
      .describe("DrQ's K: the critic target is averaged over K augmented views of next_obs (1 = CURL's single target)"),
    augM: z.number().int().min(1).max(16).default(1)
      .describe("DrQ's M: the critic's Q loss is averaged over M augmented views of obs (1 = CURL's single view)"),
    // --- networks ------------------------------------------------------
    hiddenDim: positiveInt.default(1024).describe('width of the actor and critic MLPs'),
    latentDim: positiveInt.default(50).describe('encoder output features'),
    numConvLayers: z.number().int().min(1).max(8).default(4),
    numFilters: positiveInt.default(32),
    actorLogStdMin: z.number().default(-10),
    actorLogStdMax: z.number().default(2),
    // --- optimisation --------------------------------------------------
    lr: z.number().positive().max(1).default(1e-3).describe('Adam learning rate of critic, actor, encoder and W'),
    beta1: z.number().min(0).lt(1).default(0.9).describe('Adam beta1 of critic, actor, encoder and W'),
    alphaLr: z.number().positive().max(1).default(1e-4).describe('Adam learning rate of the temperature'),
    alphaBeta1: z.number().min(0).lt(1).default(0.5),
    initTemperature: z.number().positive().default(0.1),
    discount: probability.default(0.99),
    criticTau: probability.default(0.01).describe('EMA rate of the target Q networks'),
    encoderTau: probability.default(0.05).describe('EMA rate of the target (momentum) encoder'),
    actorUpdateFreq: positiveInt.default(2).describe('update actor and temperature every N updates'),
    criticTargetUpdateFreq: positiveInt.default(2).describe('update target networks every N updates'),
    microBatch: positiveInt.default(128).describe('largest chunk of a batch run through the encoder with gradients at once (bounds wasm memory)'),
    convWorkers: z
      .number().int().min(0).max(64).optional()
      .describe('extra threads for the conv passes of an update: worker threads that split the rows on the tfjs engine (wasm/cpu), or libtorch threads beyond the first (default: every core; none on native backends)'),
    convEngine: z.enum(convEngineNames).default('auto')
      .describe('who runs the conv passes: libtorch (native addon, `npm run build:native`), tfjs, or auto (libtorch when built and the backend is wasm/cpu)'),
    // --- auxiliary objective (agents/aux) ---------------------------------
    auxTemperature: z.number().positive().max(100).optional()
      .describe(`simclr: temperature of the cosine similarities (default ${auxDefaults.temperature})`),
    auxLambda: z.number().nonnegative().max(1e3).optional()
      .describe(`barlow: off-diagonal weight as at the paper's 8192-d projection, rescaled by 8192 / --aux-proj-dim (default ${auxDefaults.lambda})`),
    auxTauPlus: z.number().min(0).lt(1).optional()
      .describe(`curl-debiased / curl-hard: class prior tau+ of the debiased negative term (default ${auxDefaults.tauPlusDebiased} for curl-debiased, 0 for curl-hard)`),
    auxBeta: z.number().nonnegative().max(100).optional()
      .describe(`curl-hard: concentration beta of the hard-negative weights (default ${auxDefaults.beta}; 0 = uniform)`),
    auxQueue: z.number().int().nonnegative().max(65_536).default(0)
      .describe('curl, curl-debiased, curl-hard: MoCo-style queue of the last K momentum-encoder keys as extra negatives (0 = in-batch only)'),
    curlEncoderSteps: z.number().int().min(1).max(4).default(1)
      .describe("Adam steps the encoder takes with each aux gradient: 2 is the CURL reference code's (its encoder and CURL optimisers both step the encoder), 1 this toolkit's default"),
    auxHiddenDim: positiveInt.default(auxDefaults.hiddenDim).describe('simclr, byol, barlow: hidden width of the projection (and BYOL prediction) MLP'),
    auxProjDim: positiveInt.default(auxDefaults.projDim).describe('simclr, byol, barlow: output size of the projection MLP'),
    // --- evaluation, logging, checkpoints --------------------------------
    evalEvery: positiveInt.default(10_000).describe('environment steps between evaluations'),
    evalEpisodes: positiveInt.default(10),
    logEvery: positiveInt.default(1_000).describe('environment steps between train metric records'),
    checkpointEvery: positiveInt.default(10_000).describe('environment steps between checkpoints'),
    keepCheckpoints: positiveInt.default(2).describe('how many recent checkpoints to keep'),
    saveReplay: z.boolean().default(true).describe('include the replay buffer in checkpoints (needed for exact resume)'),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.cropSize > c.imageSize) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['cropSize'],
        message: `cropSize (${c.cropSize}) must not exceed imageSize (${c.imageSize})`,
      });
    }
    if (c.cropSize <= c.imageSize && encoderOutputSide(c.cropSize, c.numConvLayers) < 1) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['numConvLayers'],
        message:
          `${c.numConvLayers} conv layers (3x3, strides 2,1,1,...) shrink a ${c.cropSize}-pixel crop to nothing: ` +
          `use --crop-size ${minCropFor(c.numConvLayers)} or more (and --image-size at least that), or --num-conv-layers ${Math.max(1, maxConvLayersFor(c.cropSize))} or fewer`,
      });
    }
    try {
      const sizeProblem = shiftSizeProblem(parseAugSpec(c.aug), c.imageSize, c.cropSize);
      if (sizeProblem !== null) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['aug'], message: sizeProblem });
    } catch (error) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['aug'], message: (error as Error).message });
    }
    if (c.actorLogStdMin >= c.actorLogStdMax) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['actorLogStdMin'],
        message: `actorLogStdMin (${c.actorLogStdMin}) must be below actorLogStdMax (${c.actorLogStdMax})`,
      });
    }
    for (const [field, users] of Object.entries(auxFieldUsers) as Array<[keyof typeof auxFieldUsers, readonly string[]]>) {
      if (c[field] !== undefined && !users.includes(c.aux)) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: [field],
          message: `${field} is read only by --aux ${users.join(' or ')}, not by --aux ${c.aux}: drop it or change --aux`,
        });
      }
    }
    if (c.auxQueue > 0 && !(curlFamily as readonly string[]).includes(c.aux)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['auxQueue'],
        message: `auxQueue (${c.auxQueue}) adds negatives to CURL's InfoNCE; it needs --aux ${curlFamily.join(', ')}, not --aux ${c.aux} (use --aux-queue 0)`,
      });
    }
    if (c.curlEncoderSteps > 1 && c.aux === 'none') {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['curlEncoderSteps'],
        message: `curlEncoderSteps (${c.curlEncoderSteps}) repeats the encoder's step on the auxiliary loss's gradient; --aux none has none (use --curl-encoder-steps 1 or pick an --aux objective)`,
      });
    }
    if (c.env === 'remote' && !c.remoteCmd) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['remoteCmd'],
        message: '--env remote needs --remote-cmd "<command that serves the env protocol>"',
      });
    }
  });

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type BackendName = (typeof backendNames)[number];
export type AuxName = (typeof auxNames)[number];

export function defaultConfig(): Config {
  return configSchema.parse({});
}
