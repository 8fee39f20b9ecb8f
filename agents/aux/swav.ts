// SwAV (Caron et al. 2020, "Unsupervised Learning of Visual Features by
// Contrasting Cluster Assignments"): both crops through the online encoder
// and a projection MLP `swav.*`, L2-normalised; scores against K learnable
// prototypes `swav.prototypes` (rows kept at unit norm after every step);
// each crop's codes come from Sinkhorn-Knopp on its scores, without
// gradient, and each crop's softmax over the prototypes (temperature T)
// predicts the other crop's codes (swav-objective.ts).
//
// With the projection head, as the paper: the equipartition that the codes
// enforce spreads the batch over the prototypes, and the head keeps that
// pressure off the latent the critic reads. K defaults to 512, the prototype
// count Proto-RL (Yarats et al. 2021) used with SwAV-style codes on
// DMControl pixels, rather than ImageNet's 3000 (the codes split each batch
// over the prototypes, and RL batches are 128-512).
import { z } from 'zod';
import { defineAuxObjective, encoderFlops, optionalAuxOption } from './descriptor.js';
import { temperature } from './simclr.js';
import { projectionFlops, projectionOptions, projectionParams } from './two-view.js';

export const swavNeeds = { onlinePos: true, targetPos: false, targetObs: false } as const;

/**
 * Sinkhorn's exponents exp(score / epsilon) span 2 / epsilon (scores are cosines); at epsilon >= 0.03
 * the smallest entry, e^-67 divided by the normalisations, stays a normal float32.
 */
export const SINKHORN_MIN_EPSILON = 0.03;

export const swav = defineAuxObjective({
  name: 'swav',
  summary: 'SwAV',
  options: {
    ...projectionOptions,
    // the paper's 0.1
    auxTemperature: temperature,
    auxPrototypes: optionalAuxOption(z.number().int().min(2).max(65_536), 'number of prototypes K (rows of swav.prototypes)', 512),
    auxSinkhornEpsilon: optionalAuxOption(
      z.number().min(SINKHORN_MIN_EPSILON).max(10),
      `Sinkhorn-Knopp's entropy weight epsilon (codes ~ exp(scores / epsilon)); at least ${SINKHORN_MIN_EPSILON}, below which float32 underflows`,
      0.05,
    ),
    auxSinkhornIters: optionalAuxOption(z.number().int().min(1).max(100), 'Sinkhorn-Knopp iterations', 3),
  },
  needs: swavNeeds,
  metrics: ['auxLoss', 'auxAccuracy', 'auxGradNorm'],
  report: { rank: 15, color: '#283593' },
  paramCount: ({ latentDim, options }) => projectionParams(latentDim, options) + options.auxPrototypes * options.auxProjDim,
  // the projection over both views' 2b rows (3x forward) and the 2b x K scores of D-dim rows (3x forward);
  // Sinkhorn is elementwise
  flops: ({ latentDim, options, batch, rows, row }) => {
    const encoder = encoderFlops(swavNeeds, rows, row);
    const loss = 3 * 2 * batch * projectionFlops(latentDim, options) + 3 * 2 * 2 * batch * options.auxPrototypes * options.auxProjDim;
    return { conv: encoder.conv, dense: encoder.dense + loss };
  },
  load: () => import('./swav-objective.js'),
});
