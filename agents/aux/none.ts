// `none`: pixel SAC without an auxiliary loss. An entry like any other so
// that every list of objectives (schema, help, report) comes from the registry.
import { defineAuxObjective } from './descriptor.js';

export const none = defineAuxObjective({
  name: 'none',
  summary: 'pixel SAC',
  options: {},
  needs: { onlinePos: false, targetPos: false, targetObs: false },
  metrics: [],
  report: { rank: 1, color: '#1f77b4' },
  paramCount: () => 0,
  flops: () => ({ conv: 0, dense: 0 }),
  load: async () => ({ create: () => null }),
});
