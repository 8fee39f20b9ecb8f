/* The python3 that the benchmarks' PyTorch baselines run on. */
import { spawnSync } from 'node:child_process';

/** A python3 that can import torch: PYTHON, else the PATH's, else the system's (Debian's python3-torch). */
export function pythonWithTorch(who: string): string {
  const candidates = [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => Boolean(c));
  const found = candidates.find((py) => spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
  if (!found) {
    throw new Error(`${who}: no python3 with torch among ${candidates.join(', ')}; install one (Debian: apt-get install python3-torch) or set PYTHON`);
  }
  return found;
}
