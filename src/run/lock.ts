import { hostname } from 'node:os';
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../core/errors.js';

/**
 * One writer per run directory. A process that trains a run holds
 * `<run>/lock` for its whole life; a second `train --resume` of the same run
 * is refused with the holder's pid.
 *
 * Why not a time-based lock (proper-lockfile and the like): those keep a lock
 * alive by touching it from a timer and call it stale when the touches stop.
 * An update runs synchronously on the main thread for seconds (15 s at batch
 * 512 on wasm), so the timer would starve and a second process would take a
 * live run over. Instead the lock names its holder (pid, host, the process's
 * start time) and is stale exactly when that process no longer exists, which
 * a kill -9 leaves behind and the next process detects at once.
 */
export interface LockHolder {
  pid: number;
  host: string;
  /** Start time of the process (clock ticks since boot, Linux); tells a reused pid from the holder. */
  startTicks: number | null;
  since: string;
  command: string;
}

/** The run is being written by another live process. Exit code 2: a usage error, nothing was touched. */
export class RunLockedError extends ConfigError {}

export const lockFileName = 'lock';

/** Field 22 of /proc/<pid>/stat; null where /proc is not there (macOS). */
export function processStartTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]);
    return Number.isSafeInteger(ticks) ? ticks : null;
  } catch {
    return null;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the lock's holder still runs: same host, the pid exists, and it is the same process (not a reused pid). */
export function holderAlive(holder: LockHolder): boolean {
  if (holder.host !== hostname()) return true; // cannot tell from here: assume it runs
  if (!processAlive(holder.pid)) return false;
  if (holder.startTicks === null) return true;
  const ticks = processStartTicks(holder.pid);
  return ticks === null || ticks === holder.startTicks;
}

function readHolder(path: string): LockHolder | null {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockHolder>;
    if (typeof parsed.pid !== 'number' || typeof parsed.host !== 'string') return null;
    return { startTicks: null, since: '?', command: '?', ...parsed } as LockHolder;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw error;
    return null;
  }
}

export interface RunLock {
  readonly path: string;
  /** Removes the lock if it still names this process. Idempotent. */
  release(): void;
}

/**
 * Takes the run's lock or throws RunLockedError. `say` reports a stale lock
 * taken over. The lock is released by release() and, as a last resort, when
 * the process exits (process.exit included); a kill -9 leaves it for the next
 * process to find stale.
 */
export function acquireRunLock(runDir: string, say: (line: string) => void = () => {}): RunLock {
  const path = join(runDir, lockFileName);
  const me: LockHolder = {
    pid: process.pid,
    host: hostname(),
    startTicks: processStartTicks(process.pid),
    since: new Date().toISOString(),
    command: process.argv.slice(1).join(' '),
  };
  // Written whole to a private file, then linked into place: link() fails if the lock exists, so a reader never sees half a lock.
  const mine = join(runDir, `.lock.${process.pid}.tmp`);
  const fd = openSync(mine, 'w');
  try {
    writeSync(fd, `${JSON.stringify(me)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(mine, path);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 5) throw error;
      }
      let holder: LockHolder | null;
      try {
        holder = readHolder(path);
      } catch {
        continue; // released between our link and our read: try again
      }
      if (holder === null) {
        throw new RunLockedError(
          `${path} is not a lock this program wrote, so the run may be in use. If no curl-rl process is training ${runDir}, delete ${path} and try again.`,
        );
      }
      if (holder.pid === process.pid && holder.host === me.host) break; // already ours (train() called twice in one process)
      if (holderAlive(holder)) {
        const where = holder.host === me.host ? '' : ` on host ${holder.host}`;
        throw new RunLockedError(
          `${runDir} is in use by process ${holder.pid}${where} (since ${holder.since}: ${holder.command}). ` +
            `Two processes writing one run would interleave its records and checkpoints. Wait for it to finish, or stop it (kill -INT ${holder.pid}) and resume then.` +
            (where ? ` If that process is gone, delete ${path}.` : ''),
        );
      }
      // Stale: move it aside under a name only we use, then check we moved the lock we judged stale (another process may have replaced it meanwhile).
      const aside = `${path}.stale-${process.pid}`;
      try {
        renameSync(path, aside);
      } catch {
        continue;
      }
      const moved = readHolderOrNull(aside);
      if (moved && moved.pid !== holder.pid) {
        // We moved a fresh lock of a process that took over before us: put it back unless yet another lock appeared.
        try {
          linkSync(aside, path);
        } catch {
          // Someone holds the lock now; theirs stands.
        }
        rmSync(aside, { force: true });
        continue;
      }
      rmSync(aside, { force: true });
      say(`curl-rl: took over the lock of process ${holder.pid} (started ${holder.since}), which no longer runs.`);
    }
  } finally {
    rmSync(mine, { force: true });
  }

  let held = true;
  const release = (): void => {
    if (!held) return;
    held = false;
    process.off('exit', release);
    try {
      const holder = readHolder(path);
      if (holder && holder.pid === me.pid && holder.host === me.host) rmSync(path, { force: true });
    } catch {
      // Gone already, or the file system went read-only: the next process finds the lock stale.
    }
  };
  process.on('exit', release);
  return { path, release };
}

function readHolderOrNull(path: string): LockHolder | null {
  try {
    return readHolder(path);
  } catch {
    return null;
  }
}

/** The live holder of a run's lock, if any (for status displays). */
export function runLockHolder(runDir: string): LockHolder | null {
  const holder = readHolderOrNull(join(runDir, lockFileName));
  return holder && holderAlive(holder) ? holder : null;
}
