import { ColorJitter, Cutout, RandomCrop, RandomShift, type Augmentation } from './augment.js';
import { ReplayError } from './errors.js';

/**
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
 * The training-time augmentation for frames of frameSize x frameSize and a
 * network input of inputSize. With shift the two must be equal.
 */
export function buildAugmentation(spec: AugSpec | string, frameSize: number, inputSize: number): Augmentation {
  const s = typeof spec === 'string' ? parseAugSpec(spec) : spec;
  let aug: Augmentation;
  if (s.geometric === 'shift') {
    if (frameSize !== inputSize) {
      throw new ReplayError(`aug shift keeps the input at the rendered size, so the crop size (${inputSize}) must equal the image size (${frameSize}); DrQ uses --image-size 84 --crop-size 84`);
    }
    aug = new RandomShift(frameSize, SHIFT_PAD);
  } else aug = new RandomCrop(frameSize, frameSize, inputSize);
  if (s.jitter) aug = new ColorJitter(aug);
  if (s.cutout) {
    const [lo, hi] = cutoutSides(inputSize);
    aug = new Cutout(aug, lo, hi);
  }
  return aug;
}
