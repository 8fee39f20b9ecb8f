/*
 * The loop's TensorBoard sink: a subscriber of the loop's streams, like the
 * metrics log, that writes this process's event file in <run>/tb/ (see
 * src/run/tensorboard/). Writes are synchronous, so a checkpoint that records
 * the files' sizes has everything logged before it.
 */
import { dirname, relative } from 'node:path';
import { Subscription } from 'rxjs';
import type { Config } from '../config/schema.js';
import { TensorBoardLog } from '../run/tensorboard/run-log.js';
import type { LoopStreams } from './streams.js';
import type { Trainer } from './trainer.js';

/**
 * Starts this process's event file: the config as text at the current step
 * and, on a resume, the restart marker just past the checkpoint's step.
 * Call it after any restore, which cuts the run's files back to its checkpoint.
 */
export function attachTensorBoard(streams: LoopStreams, trainer: Trainer, config: Config, options: { resumed: boolean; say: (line: string) => void }): Subscription {
  const tb = new TensorBoardLog(trainer.runDir);
  const step = trainer.envStep;
  if (options.resumed) tb.resumed(step + 1);
  tb.config(step, config);
  const subscription = new Subscription();
  const file = relative(trainer.runDir, tb.path);
  subscription.add(streams.records$.subscribe(trainer.guard(file, (record) => tb.record(record))));
  subscription.add(streams.evalFrames$.subscribe(trainer.guard(file, ({ record, frames }) => tb.evalFrames(record.envStep, frames, config.imageSize))));
  options.say(`tensorboard: ${tb.path} (watch it with: tensorboard --logdir ${dirname(trainer.runDir)})`);
  return subscription;
}
