// The soft nearest-neighbour loss (Frosst, Papernot & Hinton 2019, "Analyzing
// and Improving Representations with the Soft Nearest Neighbor Loss", after
// Salakhutdinov & Hinton 2007): both crops through the online encoder; over
// the 2N latents of a batch, each one's neighbours are weighted by
// exp(-||z_k - z_l||^2 / T) and the loss is minus the log of the weight its
// own stack's other crop gets (soft-nn-objective.ts).
//
// On the latent itself, no projection head: the paper measures the
// representation as it is, and on L2-normalised rows the squared distance is
// 2 - 2 cos, which would make this NT-Xent at T / 2. The distances are divided
// by the latent size L, so that the temperature does not depend on L: a
// LayerNorm row with unit gain and zero bias has ||z||^2 = L, so d / L =
// 2 - 2 cos there, and the default T = 0.2 is SimCLR's 0.1 on cosines.
import { z } from 'zod';
import { defineAuxObjective, encoderFlops, optionalAuxOption } from './descriptor.js';

export const softNnNeeds = { onlinePos: true, targetPos: false, targetObs: false } as const;

export const softNn = defineAuxObjective({
  name: 'soft-nn',
  summary: 'soft nearest neighbour',
  options: {
    auxSnnTemperature: optionalAuxOption(
      z.number().positive().max(100),
      'temperature of the soft nearest-neighbour loss, on squared latent distances divided by the latent size',
      0.2,
    ),
  },
  needs: softNnNeeds,
  metrics: ['auxLoss', 'auxAccuracy', 'auxGradNorm'],
  report: { rank: 12, color: '#00796b' },
  paramCount: () => 0,
  // the 2b x 2b Gram matrix of L-dim latents (3x forward with its backward)
  flops: ({ latentDim, batch, rows, row }) => {
    const encoder = encoderFlops(softNnNeeds, rows, row);
    return { conv: encoder.conv, dense: encoder.dense + 3 * 2 * (2 * batch) ** 2 * latentDim };
  },
  load: () => import('./soft-nn-objective.js'),
});
