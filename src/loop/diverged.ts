/*
 * What to say when an update's metrics stop being finite. The aux objective
 * and SAC share the encoder, so once either diverges the other's losses follow
 * within an update or two: the hint must name the one that went first, since
 * the remedies differ (an aux option against --lr and the rewards).
 */
import { auxObjective, resolveAuxOptions } from '../../agents/aux/registry.js';
import { kebab } from '../config/resolve.js';
import type { Config } from '../config/schema.js';
import { CurlRlError } from '../core/errors.js';

/** An update produced a NaN or infinite loss; the run stops without checkpointing the damaged weights. */
export class NonFiniteLossError extends CurlRlError {}

/**
 * The error for an update with a non-finite metric, or null when every one is
 * finite. The aux objective's metrics are looked at first: its loss and
 * gradient norm come from the same update as SAC's, so a non-finite aux metric
 * beside finite SAC ones means the aux loss diverged on its own.
 */
export function nonFiniteMetricError(
  metrics: Readonly<Record<string, number>>,
  config: Pick<Config, 'aux'> & Partial<Config>,
  at: { update: number; agentStep: number },
): NonFiniteLossError | null {
  const bad = Object.entries(metrics).filter(([, value]) => !Number.isFinite(value));
  if (bad.length === 0) return null;
  const descriptor = auxObjective(config.aux);
  const auxBad = bad.filter(([name]) => descriptor.metrics.includes(name));
  const [name, value] = (auxBad[0] ?? bad[0])!;
  const stopped =
    `${name} became ${value} at update ${at.update} (agent step ${at.agentStep}); ` +
    'the run stopped and kept its last checkpoint, which predates this update. ';
  if (auxBad.length === 0) return new NonFiniteLossError(`${stopped}Lower --lr or check the environment's rewards.`);
  const values = resolveAuxOptions(descriptor, config);
  const fields = Object.keys(descriptor.options);
  const flags = (pick: (field: string) => unknown) => fields.map((f) => `--${kebab(f)} ${JSON.stringify(pick(f))}`).join(', ');
  const sacFinite = bad.length === auxBad.length;
  return new NonFiniteLossError(
    `${stopped}It is the auxiliary loss that diverged: --aux ${config.aux}` +
      (fields.length > 0 ? ` with ${flags((f) => values[f])}` : '') +
      (sacFinite ? ' (the SAC losses of this update were still finite)' : '') +
      '. ' +
      (fields.length > 0 ? `Move its options toward their defaults (${flags((f) => descriptor.options[f]!.default)}), ` : '') +
      'lower --lr (the aux objective steps with it too), or train with another --aux.',
  );
}
