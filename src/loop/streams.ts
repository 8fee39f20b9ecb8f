import { filter, map, share, type Observable } from 'rxjs';
import type { CheckpointRecord, EpisodeRecord, EvalRecord, MetricsRecord, RestartRecord, TrainRecord } from '../run/metrics.js';
import type { LoopEvent } from './trainer.js';

type EventOf<T extends LoopEvent['type']> = Extract<LoopEvent, { type: T }>;

function ofType<T extends LoopEvent['type']>(events$: Observable<LoopEvent>, type: T): Observable<EventOf<T>> {
  return events$.pipe(filter((e): e is EventOf<T> => e.type === type));
}

/**
 * The loop's derived streams, all views of the one event stream the trainer
 * emits as it steps. Emission is synchronous, so every subscriber has seen a
 * step's events before the next step (or that step's checkpoint) begins.
 */
export interface LoopStreams {
  transitions$: Observable<EventOf<'transition'>>;
  updates$: Observable<EventOf<'update'>>;
  episodes$: Observable<EpisodeRecord>;
  train$: Observable<TrainRecord>;
  evals$: Observable<EvalRecord>;
  /** Evaluations that kept their first episode's frames (runs that write TensorBoard files). */
  evalFrames$: Observable<{ record: EvalRecord; frames: Uint8Array[] }>;
  checkpoints$: Observable<CheckpointRecord>;
  restarts$: Observable<RestartRecord>;
  /** Every record that belongs in metrics.jsonl, in the order it happened. */
  records$: Observable<MetricsRecord>;
}

export function deriveStreams(source$: Observable<LoopEvent>): LoopStreams {
  const events$ = source$.pipe(share());
  const record = <T extends 'episode' | 'train' | 'eval' | 'checkpoint' | 'restart'>(type: T): Observable<EventOf<T>['record']> =>
    ofType(events$, type).pipe(map((e) => (e as { record: EventOf<T>['record'] }).record));
  return {
    transitions$: ofType(events$, 'transition'),
    updates$: ofType(events$, 'update'),
    episodes$: record('episode'),
    train$: record('train'),
    evals$: record('eval'),
    evalFrames$: ofType(events$, 'eval').pipe(
      filter((e): e is EventOf<'eval'> & { frames: Uint8Array[] } => e.frames !== undefined),
      map(({ record, frames }) => ({ record, frames })),
    ),
    checkpoints$: record('checkpoint'),
    restarts$: record('restart'),
    records$: events$.pipe(
      filter((e): e is Exclude<LoopEvent, EventOf<'transition'> | EventOf<'update'>> => e.type !== 'transition' && e.type !== 'update'),
      map((e) => e.record as MetricsRecord),
    ),
  };
}
