// The flags every benchmark that runs a preset's training setup takes, with
// the paper preset's cartpole-swingup as the default (node:util parseArgs options).
export const presetRunOptions = {
  env: { type: 'string', default: 'cartpole-swingup' },
  preset: { type: 'string', default: 'cartpole-swingup-paper' },
  aux: { type: 'string', default: 'curl' },
  seed: { type: 'string', default: '1' },
} as const;
