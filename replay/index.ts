export { ReplayBuffer, type ReplayOptions, type SampleOptions, type StepRecord } from './buffer.js';
export { RandomCrop, CenterCrop, RandomShift, Cutout, ColorJitter, type Augmentation, type CropOffset } from './augment.js';
export { centerCrop, randomCropInto } from './image-kernels.js';
export { ReplayError, ReplayFileError } from './errors.js';
export type { Batch } from './types.js';
export { parseAugSpec, buildAugmentation, augPartNames, describeAugParts, viewsAreIdentical, NO_AUG, SHIFT_PAD, type AugSpec } from './aug-spec.js';
