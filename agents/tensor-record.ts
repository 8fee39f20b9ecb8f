// A tensor as plain data, the form the agent's parameters, optimiser moments
// and an objective's own state take in a checkpoint. A leaf module: both
// agents/types.ts and the aux objectives (which agents/types.ts reads the
// objective names from) import it without an import circle.

export interface TensorRecord {
  shape: number[];
  data: Float32Array;
}
