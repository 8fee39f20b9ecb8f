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
import { parseAugSpec, shiftSizeProblem, viewsAreIdentical } from '../../replay/aug-spec.js';
import { backendNames } from '../core/backend-names.js';
import { auxObjectiveNames, auxObjectives, auxOptionFields, unreadAuxOptions } from '../../agents/aux/registry.js';
import type { UnreadAuxOption } from '../../agents/aux/registry.js';
import { encoderOutputSide, maxConvLayersFor, minCropFor } from '../../agents/conv-size.js';

/**
 * Counts stay far below 2^53, where a float64 stops counting exactly (env
 * steps grow by the action repeat); 2^50 env steps is beyond any run.
 */
export const MAX_COUNT = 2 ** 50;
const positiveInt = z.number().int().positive().max(MAX_COUNT);
const nonNegativeInt = z.number().int().nonnegative().max(MAX_COUNT);
const probability = z.number().min(0).max(1);

/** The aux objectives, in the order --aux lists them (agents/aux/registry.ts). */
export const auxNames = auxObjectiveNames();
export const convEngineNames = ['auto', 'libtorch', 'tfjs'] as const;
/** fp32, bf16 (the libtorch engine's convs and dense heads in bf16 with fp32 accumulation), or auto (bf16 where the CPU runs it natively). */
export const precisionNames = ['auto', 'fp32', 'bf16'] as const;

/**
 * What --aug none (every view the same centre crop) refuses: an objective that
 * reads a positive view (the registry's `needs`), whose positive would equal
 * its anchor; and K or M > 1, whose views would be identical copies that cost
 * K or M times the encoder work for exactly the single view's loss.
 */
function identicalViewsProblems(c: { aux: string; augK: number; augM: number }): Array<{ path: string[]; message: string }> {
  const problems: Array<{ path: string[]; message: string }> = [];
  const needs = auxObjectives().find((d) => d.name === c.aux)?.needs;
  if (needs && (needs.onlinePos || needs.targetPos)) {
    problems.push({
      path: ['aux'],
      message:
        `--aux ${c.aux} learns by comparing two differently augmented views of each observation, but --aug none makes every view the same centre crop, ` +
        'so its positive would equal its anchor: use --aux none (pixel SAC without augmentation), or an --aug with crop or shift',
    });
  }
  for (const [field, flag, value] of [['augK', '--aug-k', c.augK], ['augM', '--aug-m', c.augM]] as const) {
    if (value > 1) {
      problems.push({
        path: [field],
        message:
          `${flag} ${value} averages over ${value} augmented views, but --aug none makes every view the same centre crop: ` +
          `the ${value} views would be identical copies at ${value} times the encoder work; use ${flag} 1, or an --aug with crop or shift`,
      });
    }
  }
  return problems;
}

/** The CLI's words for an option given with an objective that does not read it (the rule is the registry's). */
function unreadMessage(u: UnreadAuxOption, aux: string): string {
  return u.kind === 'optional'
    ? `${u.field} is read only by --aux ${u.readers.join(' or ')}, not by --aux ${aux}: drop it or change --aux`
    : `${u.field} (${JSON.stringify(u.value)}) ${u.reason}; it needs --aux ${u.readers.join(', ')}, not --aux ${aux} (leave it at ${JSON.stringify(u.default)})`;
}

export const configSchema = z
  .object({
    // --- run -----------------------------------------------------------
    env: z.string().min(1).default('cartpole-swingup').describe('environment id (see `curl-rl envs`)'),
    aux: z.enum(auxNames).default('curl').describe(
      `auxiliary loss: ${auxObjectives().map((d) => (d.summary ? `${d.name} (${d.summary})` : d.name)).join(', ')} (see agents/README.md)`,
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
      .describe("training-time augmentation of the obs, positive and next_obs views: crop = CURL's random crop; shift = DrQ's pad-4 edge-replicated random shift at the rendered size (needs --crop-size = --image-size; DrQ: 84); jitter = colour jitter (brightness, contrast, saturation, hue), cutout = a zeroed rectangle (both RAD), each the same on every frame of a stack; none = no augmentation, every view the centre crop (pixel SAC's baseline; with --aux none)"),
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
    precision: z.enum(precisionNames).default('fp32')
      .describe('what the encoder trunk computes in on the libtorch engine: fp32, bf16 (bf16 inputs and weights, fp32 accumulation; losses, LayerNorm, Adam and the EMA stay fp32), or auto (bf16 where the CPU runs it natively, avx512_bf16 or AMX; fp32 elsewhere)'),
    // --- auxiliary objective (agents/aux/registry.ts: each objective's options) ---
    ...auxOptionFields(),
    curlEncoderSteps: z.number().int().min(1).max(4).default(1)
      .describe("Adam steps the encoder takes with each aux gradient: 2 is the CURL reference code's (its encoder and CURL optimisers both step the encoder), 1 this toolkit's default"),
    // --- evaluation, logging, checkpoints --------------------------------
    evalEvery: positiveInt.default(10_000).describe('environment steps between evaluations'),
    evalEpisodes: positiveInt.default(10),
    logEvery: positiveInt.default(1_000).describe('environment steps between train metric records'),
    checkpointEvery: positiveInt.default(10_000).describe('environment steps between checkpoints'),
    keepCheckpoints: positiveInt.default(2).describe('how many recent checkpoints to keep'),
    saveReplay: z.boolean().default(true).describe('include the replay buffer in checkpoints (needed for exact resume)'),
    tensorboard: z.boolean().default(true).describe('write TensorBoard event files to <run>/tb/ (scalars, the config, eval frames); --no-tensorboard: off'),
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
      const augSpec = parseAugSpec(c.aug);
      const sizeProblem = shiftSizeProblem(augSpec, c.imageSize, c.cropSize);
      if (sizeProblem !== null) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['aug'], message: sizeProblem });
      if (viewsAreIdentical(augSpec)) {
        for (const issue of identicalViewsProblems(c)) ctx.addIssue({ code: z.ZodIssueCode.custom, ...issue });
      }
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
    for (const unread of unreadAuxOptions(c)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: [unread.field], message: unreadMessage(unread, c.aux) });
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
export type { AuxName } from '../../agents/aux/registry.js';

export function defaultConfig(): Config {
  return configSchema.parse({});
}
