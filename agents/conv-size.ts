// The encoder's conv geometry (CURL's PixelEncoder): valid 3x3 convolutions,
// stride 2 in the first layer and 1 after it. It loads no tfjs, so the
// config's checks and memory limits (src/config/) read the same arithmetic as
// the networks without loading a backend.

export const KERNEL = 3;

export function convStride(layer: number): number {
  return layer === 0 ? 2 : 1;
}

/** Side of the conv stack's output for a square input of side `size`; below 1 when the stack does not fit the input. */
export function encoderOutputSide(size: number, numLayers: number): number {
  return Math.floor((size - KERNEL) / 2) + 1 - (KERNEL - 1) * (numLayers - 1);
}

/** encoderOutputSide of a stack that must fit: a RangeError that says what to change otherwise. */
export function convOutputSide(size: number, numLayers: number): number {
  const side = encoderOutputSide(size, numLayers);
  if (!(side >= 1)) {
    throw new RangeError(`encoder: input side ${size} is too small for ${numLayers} valid 3x3 convs (strides 2,1,1,...); use a larger crop or fewer layers`);
  }
  return side;
}

/** The smallest crop a conv stack of this depth accepts. */
export function minCropFor(numConvLayers: number): number {
  return 2 * (KERNEL - 1) * (numConvLayers - 1) + KERNEL;
}

/** The deepest conv stack a crop accepts. */
export function maxConvLayersFor(crop: number): number {
  return Math.floor((Math.floor((crop - KERNEL) / 2) + 1 - 1) / (KERNEL - 1)) + 1;
}
