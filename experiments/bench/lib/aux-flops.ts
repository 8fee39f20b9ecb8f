// Not a benchmark: the FLOP count of the aux objectives that bench update uses (benchmarks are the .ts files directly in experiments/bench/).
import type { AgentConfig } from '../../../agents/index.js';
import { auxObjective, resolveAuxOptions } from '../../../agents/aux/registry.js';
import type { AuxFlops, EncoderRowFlops } from '../../../agents/aux/descriptor.js';

export type { EncoderRowFlops } from '../../../agents/aux/descriptor.js';

/**
 * FLOPs (2 x multiply-adds of matrix products and convs; elementwise ops,
 * LayerNorm, batch norm, the metrics and Adam ignored) that the aux objective
 * adds to one update of batch b: its descriptor's count (agents/aux), which
 * sums the encoder passes it needs and its own heads and loss.
 *
 * With DrQ's M obs views (--aug-m) every encoder pass runs over the M x b rows
 * the trunk holds, while the loss itself reads view 0 (b rows).
 */
export function auxFlops(cfg: AgentConfig, b: number, row: EncoderRowFlops, m = 1): AuxFlops {
  const descriptor = auxObjective(cfg.aux);
  return descriptor.flops({ latentDim: cfg.latentDim, options: resolveAuxOptions(descriptor, cfg), batch: b, rows: m * b, row });
}
