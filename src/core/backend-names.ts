// The tfjs compute backends a run can ask for. Kept free of tfjs, so the
// config schema and `--help` list them without loading it, and the tower's
// worker threads (agents/tower) name them without importing the CLI's config.
// Like all of src/core/, it imports nothing of ours (test/layering.test.ts).

export const backendNames = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof backendNames)[number];
/** A backend that runs: every name but 'auto', which asks for the best one installed. */
export type ConcreteBackend = Exclude<BackendName, 'auto'>;
