/*
 * The report's curves as TensorBoard event files: <out>/tb/<env>/<aux>/, one
 * TensorBoard run per task and objective, so `tensorboard --logdir <out>/tb`
 * draws curl and none of a task on one chart. Each holds, at every step of
 * the aggregated curve, eval/return_mean and the band's eval/return_lower and
 * eval/return_upper (std or ci95, as the report's plot), eval/seeds, and a
 * text note of the band and the runs. A report written again replaces them.
 */
import { join } from 'node:path';
import { cutEventFiles, EventFileWriter } from '../../src/run/tensorboard/event-files.js';
import { scalarsEvent, textEvent } from '../../src/run/tensorboard/events.js';
import type { BandKind } from './aggregate.js';
import type { GroupSummary } from './summarize.js';

export function writeReportEventFiles(out: string, groups: readonly GroupSummary[], band: BandKind): string {
  const root = join(out, 'tb');
  for (const group of groups) {
    if (group.curve.length === 0) continue;
    const dir = join(root, group.env, group.variant);
    cutEventFiles(dir, {});
    const writer = new EventFileWriter(dir);
    const now = Date.now() / 1000;
    const note = `band: ${band === 'std' ? 'mean ± std over seeds' : '95% Student-t interval of the mean'}; seeds ${group.seeds.join(', ')}; runs: ${group.runDirs.join(', ')}`;
    writer.write(textEvent(0, now, 'report', note));
    for (const point of group.curve) {
      writer.write(scalarsEvent(point.envStep, now, [
        { tag: 'eval/return_mean', value: point.mean },
        { tag: 'eval/return_lower', value: point.lo },
        { tag: 'eval/return_upper', value: point.hi },
        { tag: 'eval/seeds', value: point.n },
      ]));
    }
  }
  return root;
}
