// MoCHi (Kalantidis et al. 2020, "Hard Negative Mixing for Contrastive
// Learning"): MoCo's InfoNCE on L2-normalised latents, queries from the
// online encoder on the anchor crop and keys from the momentum encoder on the
// positive crop, with the queue of past keys (--aux-queue) as negatives; for
// each query, its N hardest negatives are mixed into s synthetic negatives
// (pairs of them) and s' more (the query with one of them, the query's share
// beta < 1/2), each L2-normalised and appended to its logits
// (mochi-objective.ts).
//
// On L2-normalised latents without a projection head: CURL keys the same
// latent, and the queue is the CURL family's (the same keys, shared option).
// The negatives are the batch's other keys and then the queue, as the CURL
// family's, so --aux-queue 0 mines the B - 1 in-batch keys; the paper's
// setting is a large queue (16k keys, N = 1024, s = 1024, s' = 256 on
// ImageNet), scaled down here to N = 64, s = 32, s' = 16 for a queue of a few
// thousand keys or a batch of 128-512.
import { z } from 'zod';
import { keyQueueBytes, queue } from './curl.js';
import { defineAuxObjective, encoderFlops, optionalAuxOption, withDefault } from './descriptor.js';
import { temperature } from './simclr.js';

/** Keys from the momentum encoder on the positive crop, queries the anchor pass (as CURL). */
export const mochiNeeds = { onlinePos: false, targetPos: true, targetObs: false } as const;

const count = z.number().int().nonnegative().max(65_536);

export const mochi = defineAuxObjective({
  name: 'mochi',
  summary: 'MoCHi',
  options: {
    auxQueue: queue,
    // MoCo v2's 0.2, which MoCHi builds on
    auxTemperature: withDefault(temperature, 0.2),
    auxHardNegatives: optionalAuxOption(count.min(1), 'N: the hardest negatives of each query that MoCHi mixes', 64),
    auxMixes: optionalAuxOption(count, 's: synthetic negatives per query, each a random convex mix of two of its N hardest', 32),
    auxQueryMixes: optionalAuxOption(count, "s': synthetic negatives per query, each the query mixed with one of its N hardest (query's weight beta < 1/2)", 16),
  },
  needs: mochiNeeds,
  metrics: ['auxLoss', 'auxAccuracy', 'auxGradNorm'],
  report: { rank: 14, color: '#c2185b' },
  paramCount: () => 0,
  stateBytes: keyQueueBytes,
  // cosines of b queries with b + queue keys (3x forward with the backward), the synthetic ones' b (s + s') rows the same
  flops: ({ latentDim: L, options, batch, rows, row }) => {
    const columns = batch + options.auxQueue + options.auxMixes + options.auxQueryMixes;
    const encoder = encoderFlops(mochiNeeds, rows, row);
    return { conv: encoder.conv, dense: encoder.dense + 3 * 2 * batch * columns * L };
  },
  load: () => import('./mochi-objective.js'),
});
