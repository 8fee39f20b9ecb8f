/*
 * The name a report groups a run under, from its config alone, so a report
 * rebuilt from committed files needs nothing else: the aux loss, plus the
 * augmentation settings where they differ from CURL's (one random crop).
 * Pixel SAC without augmentation (`--aux none --aug none`), the CURL paper's
 * baseline, is `pixel-sac`; `--aux none` with crops stays `none`.
 */
export interface VariantFields {
  aux: string;
  aug?: unknown;
  augK?: unknown;
  augM?: unknown;
}

export const PIXEL_SAC = 'pixel-sac';

export function variantOf(config: VariantFields): string {
  const aug = typeof config.aug === 'string' ? config.aug : 'crop';
  if (config.aux === 'none' && aug === 'none') return PIXEL_SAC;
  const parts = [config.aux];
  if (aug !== 'crop') parts.push(`aug-${aug}`);
  if (typeof config.augK === 'number' && config.augK > 1) parts.push(`k${config.augK}`);
  if (typeof config.augM === 'number' && config.augM > 1) parts.push(`m${config.augM}`);
  return parts.join('-');
}
