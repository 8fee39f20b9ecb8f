/*
 * The name a report groups a run under, from its config alone, so a report
 * rebuilt from committed files needs nothing else: the aux loss, plus the
 * augmentation settings where they differ from CURL's (one random crop), plus
 * the trunk's precision where it is not fp32 (so a precision comparison keeps
 * its arms apart). Pixel SAC without augmentation (`--aux none --aug none`),
 * the CURL paper's baseline, is `pixel-sac`; `--aux none` with crops stays
 * `none`.
 */
export interface VariantFields {
  aux: string;
  aug?: unknown;
  augK?: unknown;
  augM?: unknown;
  precision?: unknown;
}

export const PIXEL_SAC = 'pixel-sac';

const precisionSuffix = /-(bf16|auto)$/;

export function variantOf(config: VariantFields): string {
  const aug = typeof config.aug === 'string' ? config.aug : 'crop';
  const parts: string[] = [];
  if (config.aux === 'none' && aug === 'none') {
    parts.push(PIXEL_SAC);
  } else {
    parts.push(config.aux);
    if (aug !== 'crop') parts.push(`aug-${aug}`);
  }
  if (typeof config.augK === 'number' && config.augK > 1) parts.push(`k${config.augK}`);
  if (typeof config.augM === 'number' && config.augM > 1) parts.push(`m${config.augM}`);
  if (typeof config.precision === 'string' && config.precision !== 'fp32') parts.push(config.precision);
  return parts.join('-');
}

/** The variant without its precision: the agent and objective it trains, which the paper's numbers are for. */
export function baseVariant(variant: string): string {
  return variant.replace(precisionSuffix, '');
}
