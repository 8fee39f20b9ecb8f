export { ReplayBuffer, type ReplayOptions, type SampleOptions, type StepRecord } from './buffer.js';
export { centerCrop, randomCropInto, RandomCrop, CenterCrop, RandomShift, Cutout, type Augmentation, type CropOffset } from './augment.js';
export { ReplayError, ReplayFileError } from './errors.js';
export type { Batch } from './types.js';
