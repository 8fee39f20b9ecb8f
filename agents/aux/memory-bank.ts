// Instance discrimination with a memory bank (Wu, Xiong, Yu & Lin 2018,
// "Unsupervised Feature Learning via Non-Parametric Instance
// Discrimination"): every replay transition is its own class. The bank holds
// one L2-normalised feature per replay slot (batch.indices names each row's
// transition); the anchor crop's feature is classified by a softmax at
// temperature T over its own bank entry (the positive) and m entries drawn
// uniformly from the bank (negatives), plus Wu et al.'s proximal term
// lambda ||f_i - v_i||^2; then v_i <- unit(mu v_i + (1 - mu) f_i)
// (memory-bank-objective.ts).
//
// Features are the L2-normalised latents, no projection head: Wu et al.'s
// 128-d head existed to shrink a 2048-d backbone for the bank, and the latent
// here is 50-d already. The bank is --replay-capacity x latent floats: 20 MB
// at the paper presets' 100k x 50 (checkpointed, with 12 bytes per slot of
// bookkeeping), against the replay's 3 GB. The softmax form, not NCE: it needs
// no estimate of the partition function (Wu et al. fix theirs from the first
// batches), and the m negatives are shared by the batch's rows (as MoCo's
// queue; Wu et al. draw per row), so one [m, latent] block is uploaded per
// update. Only the anchor crop is encoded (one view per visit, as the paper).
import { z } from 'zod';
import { defineAuxObjective, encoderFlops, optionalAuxOption, withDefault } from './descriptor.js';
import { temperature } from './simclr.js';

export const memoryBankNeeds = { onlinePos: false, targetPos: false, targetObs: false, replayIndices: true } as const;

export const memoryBank = defineAuxObjective({
  name: 'memory-bank',
  summary: 'instance discrimination',
  options: {
    // Wu et al.'s 0.07
    auxTemperature: withDefault(temperature, 0.07),
    auxBankNegatives: optionalAuxOption(z.number().int().min(1).max(65_536), 'm: bank entries drawn as negatives per update (shared by the batch)', 4096),
    auxBankMomentum: optionalAuxOption(z.number().min(0).lt(1), 'mu of the bank update v <- unit(mu v + (1 - mu) f)', 0.5),
    auxProximal: optionalAuxOption(z.number().nonnegative().max(1e4), "lambda of Wu et al.'s proximal term lambda ||f_i - v_i||^2", 30),
  },
  needs: memoryBankNeeds,
  metrics: ['auxLoss', 'auxAccuracy', 'auxProximal', 'auxGradNorm'],
  report: { rank: 13, color: '#f9a825' },
  // the bank is state, not parameters (see above for its size)
  paramCount: () => 0,
  // bank row, owner (f64) and filled-list entry (i32) per replay slot (memory-bank-objective.ts)
  stateBytes: ({ latentDim }) => ({ perReplaySlot: 4 * latentDim + 8 + 4, fixed: 0 }),
  // b x (1 + m) cosines of latent-dim rows, 3x forward with the backward
  flops: ({ latentDim, options, batch, rows, row }) => {
    const encoder = encoderFlops(memoryBankNeeds, rows, row);
    return { conv: encoder.conv, dense: encoder.dense + 3 * 2 * batch * (1 + options.auxBankNegatives) * latentDim };
  },
  load: () => import('./memory-bank-objective.js'),
});
