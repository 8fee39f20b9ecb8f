// Worker threads do not inherit the tsx loader the main thread registered, so
// each one registers it before loading the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
