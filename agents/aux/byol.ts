// BYOL (Grill et al. 2020, "Bootstrap Your Own Latent"): the online encoder,
// projector `byol.proj` and predictor `byol.pred` predict the target branch's
// projection (momentum encoder + target projector `target.byol.proj`, which
// follows the online projector by EMA with the target encoder) of the other
// view; no negatives (byol-objective.ts).
import { defineAuxObjective, encoderFlops } from './descriptor.js';
import { projectionFlops, projectionOptions, projectionParams } from './two-view.js';

/** Both crops online, and both through the momentum encoder for the targets. */
export const byolNeeds = { onlinePos: true, targetPos: true, targetObs: true } as const;

export const byol = defineAuxObjective({
  name: 'byol',
  options: projectionOptions,
  needs: byolNeeds,
  metrics: ['auxLoss', 'auxAlignment', 'auxUniformity', 'auxGradNorm'],
  report: { rank: 5, color: '#9467bd' },
  // online and target projector from the latent, predictor from the projection
  paramCount: ({ latentDim, options }) => 2 * projectionParams(latentDim, options) + projectionParams(options.auxProjDim, options),
  // online projector + predictor over both views' 2b rows (3x forward), target projector over 2b rows (forward only)
  flops: ({ latentDim, options, batch, rows, row }) => {
    const encoder = encoderFlops(byolNeeds, rows, row);
    const projector = projectionFlops(latentDim, options);
    const loss = 3 * 2 * batch * (projector + projectionFlops(options.auxProjDim, options)) + 2 * batch * projector;
    return { conv: encoder.conv, dense: encoder.dense + loss };
  },
  load: () => import('./byol-objective.js'),
});
