#!/usr/bin/env node
// Entry point for `npx curl-rl`: TypeScript sources run through tsx's loader,
// so a fresh clone needs no build step after `npm ci`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2));
