#!/usr/bin/env node
// Entry point for `npx curl-rl`: TypeScript sources run through tsx's loader,
// so a fresh clone needs no build step after `npm ci`.
import { register } from 'tsx/esm/api';

// `curl-rl config | head`: once the reader has gone, further output has nowhere
// to go. Drop it quietly instead of dying on an unhandled EPIPE; a command
// still runs to its end (train keeps training and checkpoints as usual). A
// terminal that closed (EIO once it has hung up) is the same: train is
// writing its checkpoint after the SIGHUP, and must not die of its own output.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code === 'EPIPE' || error.code === 'EIO' || error.code === 'ERR_STREAM_DESTROYED') return;
    throw error;
  });
}

register();
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2));
