import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, expect } from 'vitest';
import type { RemoteEnv } from '../../envs/remote/index.js';

/** True while a process with this pid exists (zombies included: they still answer kill 0). */
export function pidExists(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

/** The test server's frame, recomputed here independently of envs/remote/test-pattern.ts. */
export function expectedFrame(seed: number, step: number, size: number): Uint8Array {
  const out = new Uint8Array(size * size * 3);
  const h = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(step + 1, 0xc2b2ae35)) >>> 0;
  for (let i = 0; i < out.length; i++) {
    let x = (h ^ Math.imul(i, 0x27d4eb2d)) >>> 0;
    x ^= x >>> 15;
    x = Math.imul(x, 0x2c1b3c6d);
    x ^= x >>> 12;
    out[i] = x & 255;
  }
  return out;
}

/** A Python that can run the bridge: Debian's /usr/bin/python3 (python3-msgpack) first, then PATH. */
export function findBridgePython(): string | undefined {
  for (const candidate of ['/usr/bin/python3', 'python3', 'python']) {
    const r = spawnSync(candidate, ['-c', 'import msgpack, numpy'], { stdio: 'ignore', timeout: 20_000 });
    if (r.status === 0) return candidate;
  }
  return undefined;
}

/** Pids of live (non-zombie) processes whose command line contains `arg` exactly (Linux /proc). */
export function pidsWithArg(arg: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'latin1').split('\0');
      const state = readFileSync(`/proc/${entry}/stat`, 'latin1').replace(/^.*\) /, '')[0];
      if (argv.includes(arg) && state !== 'Z') found.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/** Envs pushed onto the returned list are closed after each test (of the calling scope), and their processes must be gone. */
export function closedAfterEach(): RemoteEnv[] {
  const opened: RemoteEnv[] = [];
  afterEach(async () => {
    for (const env of opened.splice(0)) {
      await env.close();
      expect(pidExists(env.pid)).toBe(false);
    }
  });
  return opened;
}

/**
 * Settles `work` while polling for a process with `arg` on its command line;
 * `seen` says the scan found it meanwhile, so that finding none afterwards means the process ended.
 */
export async function watchArg<T>(arg: string, work: Promise<T>): Promise<{ seen: boolean; outcome: PromiseSettledResult<T> }> {
  let seen = false;
  let settled = false;
  const outcome = Promise.allSettled([work]).then(([o]) => {
    settled = true;
    return o!;
  });
  while (!settled) {
    seen ||= pidsWithArg(arg).length > 0;
    await new Promise((r) => setTimeout(r, 5));
  }
  return { seen, outcome: await outcome };
}
