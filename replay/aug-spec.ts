/*
 * `--aug`: a '+'-joined list of parts, each at most once, exactly one of them
 * geometric (crop or shift). Whatever order they are written in, they apply
 * as geometric, then jitter, then cutout. Or `none` alone.
 *
 * - none:   no augmentation, pixel SAC's baseline: every view is the centre
 *           crop of the rendered frame to the crop size (the view the agent
 *           acts on), and sampling draws nothing but transition indices. It
 *           stands alone: jitter or cutout without a random geometric part
 *           would be an augmentation after all, which 'none' must not be.
 * - crop:   CURL's random crop of the rendered frame to the crop size (the default).
 * - shift:  DrQ's random shift (Kostrikov, Yarats & Fergus 2020): pad by 4
 *           replicating the edge, random crop back to the input size. The input
 *           IS the rendered frame, so --crop-size must equal --image-size
 *           (DrQ renders 84 and shifts at 84).
 * - jitter: colour jitter (RAD, Laskin et al. 2020; formulas in ColorJitter).
 * - cutout: one zeroed rectangle (RAD's cutout), sides 10..30 at 84 pixels,
 *           scaled to other sizes.
 */
import { CenterCrop, ColorJitter, Cutout, RandomCrop, RandomShift, type Augmentation } from './augment.js';
import { ReplayError } from './errors.js';

export const augPartNames = ['crop', 'shift', 'jitter', 'cutout'] as const;
export type AugPart = (typeof augPartNames)[number];

/** The --aug value that turns augmentation off. */
export const NO_AUG = 'none';

/** DrQ's pad. */
export const SHIFT_PAD = 4;

export interface AugSpec {
  /** 'center': --aug none, the fixed centre crop. */
  readonly geometric: 'crop' | 'shift' | 'center';
  readonly jitter: boolean;
  readonly cutout: boolean;
}

export function describeAugParts(): string {
  return `a '+'-joined list of ${augPartNames.join(', ')} with exactly one of crop or shift (e.g. crop, shift, crop+jitter, shift+jitter+cutout), or ${NO_AUG} alone (the centre crop, no augmentation)`;
}

/** True for --aug none: every view of a frame is the same centre crop. */
export function viewsAreIdentical(spec: AugSpec): boolean {
  return spec.geometric === 'center';
}

/** Parses an --aug value; throws a ReplayError that says what was wrong and what is valid. */
export function parseAugSpec(text: string): AugSpec {
  const parts = text.split('+').map((p) => p.trim());
  if (parts.includes(NO_AUG)) {
    if (parts.length === 1) return { geometric: 'center', jitter: false, cutout: false };
    throw new ReplayError(
      `${JSON.stringify(text)} joins '${NO_AUG}' with other parts; '${NO_AUG}' (the centre crop, no augmentation) stands alone, ` +
        'because jitter and cutout are random augmentations themselves: use --aug none, or crop+jitter / crop+cutout for RAD-style augmentation',
    );
  }
  const bad = parts.filter((p) => !(augPartNames as readonly string[]).includes(p));
  if (bad.length > 0) {
    throw new ReplayError(`unknown augmentation part(s) ${bad.map((p) => JSON.stringify(p)).join(', ')} in ${JSON.stringify(text)}; valid parts: ${augPartNames.join(', ')}; expected ${describeAugParts()}`);
  }
  const dup = parts.filter((p, i) => parts.indexOf(p) !== i);
  if (dup.length > 0) throw new ReplayError(`augmentation part(s) ${[...new Set(dup)].join(', ')} repeated in ${JSON.stringify(text)}; expected ${describeAugParts()}`);
  const geometric = parts.filter((p): p is 'crop' | 'shift' => p === 'crop' || p === 'shift');
  if (geometric.length !== 1) {
    throw new ReplayError(`${JSON.stringify(text)} has ${geometric.length === 0 ? 'neither crop nor shift' : 'both crop and shift'}; expected ${describeAugParts()}`);
  }
  return { geometric: geometric[0]!, jitter: parts.includes('jitter'), cutout: parts.includes('cutout') };
}

/** RAD's cutout sides at 84 pixels (10..30), scaled to `size`. */
export function cutoutSides(size: number): [number, number] {
  const lo = Math.max(1, Math.round((10 * size) / 84));
  const hi = Math.min(size, Math.max(lo, Math.round((30 * size) / 84)));
  return [lo, hi];
}

/**
 * Why `spec` cannot turn frames of frameSize into network inputs of
 * inputSize, or null when it can: shift pads and crops back to the size it
 * was given, so its input is the rendered frame and the two sizes are equal.
 * The config schema and buildAugmentation both ask this one rule.
 */
export function shiftSizeProblem(spec: AugSpec, frameSize: number, inputSize: number): string | null {
  if (spec.geometric !== 'shift' || frameSize === inputSize) return null;
  return (
    `shift pads by ${SHIFT_PAD} and crops back to the input size, so the input is the rendered frame: --crop-size (${inputSize}) must equal --image-size (${frameSize}). ` +
    'DrQ renders 84 and shifts at 84: --image-size 84 --crop-size 84'
  );
}

/** The training-time augmentation for frames of frameSize x frameSize and a network input of inputSize. */
export function buildAugmentation(spec: AugSpec | string, frameSize: number, inputSize: number): Augmentation {
  const s = typeof spec === 'string' ? parseAugSpec(spec) : spec;
  const sizeProblem = shiftSizeProblem(s, frameSize, inputSize);
  if (sizeProblem !== null) throw new ReplayError(sizeProblem);
  let aug: Augmentation;
  // CenterCrop draws nothing from the sampler's Rng, so with --aug none a batch
  // consumes only its transition-index draws. The stream from a seed is then
  // shorter than crop's (two ints fewer per view per sample), so from the
  // first batch on a none run's draws differ from a crop run's with the same
  // seed; a none run is as deterministic under its seed as a crop run.
  if (s.geometric === 'center') return new CenterCrop(frameSize, frameSize, inputSize);
  if (s.geometric === 'shift') aug = new RandomShift(frameSize, SHIFT_PAD);
  else aug = new RandomCrop(frameSize, frameSize, inputSize);
  if (s.jitter) aug = new ColorJitter(aug);
  if (s.cutout) {
    const [lo, hi] = cutoutSides(inputSize);
    aug = new Cutout(aug, lo, hi);
  }
  return aug;
}
