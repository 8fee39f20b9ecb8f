/**
 * What a replay sample hands to the agent. Images are uint8 NHWC with the
 * frame stack on the channel axis, frame-major and oldest first: channel
 * c = 3 * f + rgb for frame f of k (f = k - 1 is the newest). The agent
 * converts to float and scales by 1/255 on the device, so only bytes travel.
 */
export interface Batch {
  readonly batchSize: number;
  /** Side of the cropped square images. */
  readonly size: number;
  /** Channels per image: 3 x frame stack. */
  readonly channels: number;
  readonly actionDim: number;
  /**
   * Anchor view of obs (random crop); used by the critic, the actor and as CURL query.
   * With obsViews = M > 1 it holds M independently augmented views, view-major:
   * rows m * B .. m * B + B - 1 are view m; view 0 is the anchor.
   */
  readonly obs: Uint8Array;
  /** M: augmented views of obs in `obs` (DrQ's M, the Q loss is averaged over them); absent means 1. */
  readonly obsViews?: number;
  /** K: augmented views of next_obs in `nextObs` (DrQ's K, the target is averaged over them); absent means 1. */
  readonly nextViews?: number;
  /** Positive view of the same obs with an independent crop offset (CURL key); absent when not requested. */
  readonly obsPositive?: Uint8Array;
  /** next_obs with its own crop offset; K views, view-major like obs, when nextViews = K > 1. */
  readonly nextObs: Uint8Array;
  /** [B, actionDim] */
  readonly action: Float32Array;
  /** [B] */
  readonly reward: Float32Array;
  /** [B]: 0 where the transition ended in a true terminal (terminated), else 1 (truncation bootstraps). */
  readonly notDone: Float32Array;
  /**
   * [B]: each row's transition as the replay numbers it, the global index g of its obs frame (0, 1, 2, ...
   * in the order written; it lives in slot g % capacity). Identifies a sample across batches (the memory
   * bank's key); absent in batches not drawn from a replay.
   */
  readonly indices?: Float64Array;
}
