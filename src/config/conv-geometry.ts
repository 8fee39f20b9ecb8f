// The encoder's conv arithmetic (valid 3x3 convs, strides 2,1,1,...; see
// agents/networks.ts) without loading tfjs, which `config` and `--help` must
// not need. The schema checks a crop against it and the memory limits count
// parameters with it; test/src/limits.test.ts holds it to the agent's.

export const KERNEL = 3;

/** Side of the conv stack's output for a crop; below 1 means the stack does not fit the crop. */
export function encoderOutputSide(crop: number, numConvLayers: number): number {
  return Math.floor((crop - KERNEL) / 2) + 1 - (KERNEL - 1) * (numConvLayers - 1);
}

/** The smallest crop a conv stack of this depth accepts. */
export function minCropFor(numConvLayers: number): number {
  return 2 * (KERNEL - 1) * (numConvLayers - 1) + KERNEL;
}

/** The deepest conv stack a crop accepts. */
export function maxConvLayersFor(crop: number): number {
  return Math.floor((Math.floor((crop - KERNEL) / 2) + 1 - 1) / (KERNEL - 1)) + 1;
}
