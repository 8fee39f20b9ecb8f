// Descriptor pieces the two-view objectives share (both crops through the
// online encoder, then a two-layer projection MLP): the projection's sizes as
// config fields, and its parameter and FLOP counts. No tfjs.
import { z } from 'zod';
import { defaultedAuxOption } from './descriptor.js';

// bounded as every count in the config schema (below 2^53, where a float64 stops counting exactly)
const size = z.number().int().positive().max(2 ** 50);

export const projectionOptions = {
  auxHiddenDim: defaultedAuxOption(size, 256, 'hidden width of the projection (and BYOL prediction) MLP'),
  auxProjDim: defaultedAuxOption(size, 128, 'output size of the projection MLP'),
};

export interface ProjectionSizes {
  readonly auxHiddenDim: number;
  readonly auxProjDim: number;
}

/** Parameters of a projection MLP from n inputs: [n, H] + H, [H, D] + D. */
export function projectionParams(n: number, s: ProjectionSizes): number {
  const [h, d] = [s.auxHiddenDim, s.auxProjDim];
  return n * h + h + h * d + d;
}

/** Forward FLOPs of a projection MLP per row from n inputs (its two matrix products). */
export function projectionFlops(n: number, s: ProjectionSizes): number {
  return 2 * (n * s.auxHiddenDim + s.auxHiddenDim * s.auxProjDim);
}
