/*
 * `--aug`: a '+'-joined list of parts, each at most once, exactly one of them
 * geometric (crop or shift). Whatever order they are written in, they apply
 * as geometric, then jitter, then cutout.
 *
 * - crop:   CURL's random crop of the rendered frame to the crop size (the default).
 * - shift:  DrQ's random shift (Kostrikov, Yarats & Fergus 2020): pad by 4
 *           replicating the edge, random crop back to the input size. The input
 *           IS the rendered frame, so --crop-size must equal --image-size
 *           (DrQ renders 84 and shifts at 84).
 * - jitter: colour jitter (RAD, Laskin et al. 2020; formulas in ColorJitter).
 * - cutout: one zeroed rectangle (RAD's cutout), sides 10..30 at 84 pixels,
 *           scaled to other sizes.
 */
import { ColorJitter, Cutout, RandomCrop, RandomShift, type Augmentation } from './augment.js';
import { ReplayError } from './errors.js';

export const augPartNames = ['crop', 'shift', 'jitter', 'cutout'] as const;
export type AugPart = (typeof augPartNames)[number];

/** DrQ's pad. */
export const SHIFT_PAD = 4;

export interface AugSpec {
  readonly geometric: 'crop' | 'shift';
  readonly jitter: boolean;
  readonly cutout: boolean;
}

export function describeAugParts(): string {
  return `a '+'-joined list of ${augPartNames.join(', ')} with exactly one of crop or shift (e.g. crop, shift, crop+jitter, shift+jitter+cutout)`;
}

/** Parses an --aug value; throws a ReplayError that says what was wrong and what is valid. */
export function parseAugSpec(text: string): AugSpec {
  const parts = text.split('+').map((p) => p.trim());
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
  if (s.geometric === 'shift') aug = new RandomShift(frameSize, SHIFT_PAD);
  else aug = new RandomCrop(frameSize, frameSize, inputSize);
  if (s.jitter) aug = new ColorJitter(aug);
  if (s.cutout) {
    const [lo, hi] = cutoutSides(inputSize);
    aug = new Cutout(aug, lo, hi);
  }
  return aug;
}
