// The agent declares the hyperparameters it reads (agents/types.ts
// AgentConfig) without importing the schema; the schema stays their one
// source of values and defaults. This is the compile-time check that holds the
// two together: `tsc` fails here, naming the field, when the schema drops a
// field the agent reads or gives it a type the agent does not accept.
import type { AgentConfig } from '../../agents/types.js';
import type { Config } from './schema.js';

type Supplies<C extends Needed, Needed> = C;
export type ConfigSuppliesAgent = Supplies<Config, AgentConfig>;
