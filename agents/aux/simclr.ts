// SimCLR's NT-Xent (Chen et al. 2020, "A Simple Framework for Contrastive
// Learning of Visual Representations"): both crops through the online encoder
// and a projection MLP `simclr.*`; for each of the 2N views, its other view is
// the positive and the 2N - 2 others the negatives (simclr-objective.ts).
import { z } from 'zod';
import { defineAuxObjective, encoderFlops, optionalAuxOption } from './descriptor.js';
import { projectionFlops, projectionOptions, projectionParams } from './two-view.js';

/** The temperature of cosine similarities, shared by the objectives that divide cosines by one (each with its own default). */
export const temperature = optionalAuxOption(z.number().positive().max(100), 'temperature of the cosine similarities', 0.1);

export const simclrNeeds = { onlinePos: true, targetPos: false, targetObs: false } as const;

export const simclr = defineAuxObjective({
  name: 'simclr',
  summary: 'NT-Xent',
  options: {
    // Chen et al. use 0.1 at small batches too
    auxTemperature: temperature,
    ...projectionOptions,
  },
  needs: simclrNeeds,
  metrics: ['auxLoss', 'auxAccuracy', 'auxGradNorm'],
  report: { rank: 4, color: '#2ca02c' },
  paramCount: ({ latentDim, options }) => projectionParams(latentDim, options),
  // the projection over both views' 2b rows (forward, input and weight gradients: 3x forward)
  // and the 2b x 2b similarity matrix of D-dim rows (3x forward)
  flops: ({ latentDim, options, batch, rows, row }) => {
    const encoder = encoderFlops(simclrNeeds, rows, row);
    const loss = 3 * 2 * batch * projectionFlops(latentDim, options) + 3 * 2 * (2 * batch) ** 2 * options.auxProjDim;
    return { conv: encoder.conv, dense: encoder.dense + loss };
  },
  load: () => import('./simclr-objective.js'),
});
