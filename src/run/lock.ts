// One writer per folder: a process that trains a run holds `<run>/lock` for
// its whole life, a sweep process holds `<sweep>/sweep.lock`; a second process
// is refused with the holder's pid.
//
// Why not a time-based lock (proper-lockfile and the like): those keep a lock
// alive by touching it from a timer and call it stale when the touches stop.
// An update runs synchronously on the main thread for seconds (15 s at batch
// 512 on wasm), so the timer would starve and a second process would take a
// live run over. Instead the lock names its holder (pid, host, the process's
// start time) and is stale exactly when that process no longer exists, which
// a kill -9 leaves behind and the next process detects at once.
//
// Invariants:
// - A lock file is never seen empty or half written: the holder's record is
//   written whole to a private file and linked into place, and link() fails
//   when a lock exists, so of two processes that race for a free lock one wins.
// - A lock is removed only by its holder (release) or, once its holder is
//   gone, by the one process that holds the takeover guard `<lock>.takeover`
//   and has read the lock again under it. A lock that changed meanwhile
//   (another process took it over first) is never removed, so of two processes
//   that race for a stale lock one wins.
import { hostname } from 'node:os';
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ConfigError } from '../core/errors.js';

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

/** The holder a lock file names; null for a file this program did not write; 'missing' when there is none. */
function readHolder(path: string): LockHolder | null | 'missing' {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    return null;
  }
  try {
    const parsed = JSON.parse(text) as Partial<LockHolder> | null;
    if (typeof parsed?.pid !== 'number' || typeof parsed.host !== 'string') return null;
    return { startTicks: null, since: '?', command: '?', ...parsed } as LockHolder;
  } catch {
    return null;
  }
}

function sameHolder(a: LockHolder, b: LockHolder): boolean {
  return a.pid === b.pid && a.host === b.host && a.startTicks === b.startTicks && a.since === b.since;
}

/** Links `from` to `to`; false when `to` exists. */
function linkIfAbsent(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

const pauseCell = new Int32Array(new SharedArrayBuffer(4));
/** Blocks the thread for `ms` (the lock is taken synchronously, before anything else runs). */
function pause(ms: number): void {
  Atomics.wait(pauseCell, 0, 0, ms);
}

/**
 * Removes the lock at `path` if it still names `stale`, under the takeover
 * guard. False when another process holds the guard or the lock changed: the
 * caller looks at the lock again.
 */
function removeStaleLock(path: string, stale: LockHolder, mine: string): boolean {
  const guard = `${path}.takeover`;
  if (!linkIfAbsent(mine, guard)) {
    removeDeadGuard(guard);
    return false;
  }
  try {
    const now = readHolder(path);
    if (now === 'missing' || now === null || !sameHolder(now, stale)) return false;
    rmSync(path, { force: true });
    return true;
  } finally {
    rmSync(guard, { force: true });
  }
}

/**
 * A guard is held for a few system calls; one whose holder is gone was left
 * by a kill in that window. It is removed only if it still names that holder
 * when read again, so a guard a live process has taken meanwhile stands
 * (short of a take in the instant between that read and the removal).
 */
function removeDeadGuard(guard: string): void {
  const holder = readHolder(guard);
  if (holder === 'missing' || (holder !== null && holderAlive(holder))) return;
  const again = readHolder(guard);
  const unchanged = holder === null ? again === null : again !== null && again !== 'missing' && sameHolder(again, holder);
  if (unchanged) rmSync(guard, { force: true });
}

/** What a lock guards, in the words its errors use. */
export interface LockUse {
  /** Thrown when the lock cannot be taken. */
  readonly error: new (message: string) => Error;
  /** Why a live holder blocks us and what to do about it (`otherHost`: the holder runs elsewhere, so nothing here can tell whether it lives). */
  busy(holder: LockHolder, otherHost: boolean): string;
  /** What to do about a file in the lock's place that this program did not write. */
  foreign(): string;
  /** Reports a stale lock taken over. */
  say?: (line: string) => void;
}

export interface HeldLock {
  readonly path: string;
  /** Removes the lock if it still names this process. Idempotent. */
  release(): void;
}

/** Attempts at taking a lock that other processes keep taking over or releasing, about 2 ms apart. */
const maxAttempts = 200;

/**
 * Takes the lock at `path` (its folder must exist) or throws `use.error`. The
 * lock is released by release() and, as a last resort, when the process exits
 * (process.exit included); a kill -9 leaves it for the next process to find
 * stale.
 */
export function acquireLock(path: string, use: LockUse): HeldLock {
  const me: LockHolder = {
    pid: process.pid,
    host: hostname(),
    startTicks: processStartTicks(process.pid),
    since: new Date().toISOString(),
    command: process.argv.slice(1).join(' '),
  };
  const mine = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(mine, 'w');
  try {
    writeSync(fd, `${JSON.stringify(me)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    let tookOverFrom: LockHolder | undefined;
    for (let attempt = 0; ; attempt++) {
      if (attempt >= maxAttempts) throw new use.error(`Could not take the lock ${path}: other processes kept taking it over or releasing it. Try again.`);
      if (linkIfAbsent(mine, path)) {
        if (tookOverFrom) use.say?.(`curl-rl: took over the lock of process ${tookOverFrom.pid} (started ${tookOverFrom.since}), which no longer runs.`);
        break;
      }
      const holder = readHolder(path);
      if (holder === 'missing') continue; // released between our link and our read
      if (holder === null) throw new use.error(use.foreign());
      if (holder.pid === me.pid && holder.host === me.host) break; // already ours (taken twice in one process)
      if (holderAlive(holder)) throw new use.error(use.busy(holder, holder.host !== me.host));
      if (removeStaleLock(path, holder, mine)) tookOverFrom = holder;
      else pause(2);
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
      if (holder !== 'missing' && holder !== null && holder.pid === me.pid && holder.host === me.host) rmSync(path, { force: true });
    } catch {
      // The file system went read-only: the next process finds the lock stale.
    }
  };
  process.on('exit', release);
  return { path, release };
}

/** Takes the run's lock or throws RunLockedError; `say` reports a stale lock taken over. */
export function acquireRunLock(runDir: string, say: (line: string) => void = () => {}): HeldLock {
  const path = join(runDir, lockFileName);
  return acquireLock(path, {
    error: RunLockedError,
    say,
    foreign: () =>
      `${path} is not a lock this program wrote, so the run may be in use. If no curl-rl process is training ${runDir}, delete ${path} and try again.`,
    busy: (holder, otherHost) =>
      `${runDir} is in use by process ${holder.pid}${otherHost ? ` on host ${holder.host}` : ''} (since ${holder.since}: ${holder.command}). ` +
      `Two processes writing one run would interleave its records and checkpoints. Wait for it to finish, or stop it (kill -INT ${holder.pid}) and resume then.` +
      (otherHost ? ` If that process is gone, delete ${path}.` : ''),
  });
}

/** The live holder of a run's lock, if any. */
export function runLockHolder(runDir: string): LockHolder | null {
  const holder = readHolder(join(runDir, lockFileName));
  return holder !== 'missing' && holder !== null && holderAlive(holder) ? holder : null;
}
