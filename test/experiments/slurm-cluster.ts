/*
 * A real single-node Slurm cluster for tests: munged, slurmctld and slurmd
 * (Debian's munge and slurm-wlm) started as children of the test process,
 * with every file (key, socket, config, state, spool, logs) in one temp
 * directory and ports picked free, so it touches nothing of the machine's
 * own Slurm or munge and several can coexist.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

export const slurmPrograms = ['munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scontrol', 'scancel', 'sinfo'] as const;

function onPath(program: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function missingSlurmPrograms(): string[] {
  return slurmPrograms.filter((p) => !onPath(p));
}

export interface SlurmCluster {
  dir: string;
  /** process.env plus SLURM_CONF: give it to every Slurm command and to curl-rl. */
  env: NodeJS.ProcessEnv;
  /** The node's CPUs as configured. */
  cpus: number;
  /** Cancels every job, stops the daemons, removes the directory. */
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePromise(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function tail(path: string, lines = 15): string {
  return existsSync(path) ? readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') : '(no log)';
}

/** CPUs slurmd detects (`slurmd -C`); a node configured with more would be refused. */
function detectedCpus(env: NodeJS.ProcessEnv): number | undefined {
  try {
    const out = execFileSync('slurmd', ['-C'], { env, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    const match = /CPUs=(\d+)/.exec(out);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

interface Daemon {
  name: string;
  child: ChildProcess;
  log: string;
  exited: boolean;
}

function startDaemon(name: string, program: string, args: string[], dir: string, env: NodeJS.ProcessEnv): Daemon {
  const log = join(dir, `${name}.out`);
  const fd = openSync(log, 'a');
  const child = spawn(program, args, { env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const daemon: Daemon = { name, child, log, exited: false };
  child.on('exit', () => {
    daemon.exited = true;
  });
  return daemon;
}

async function stopDaemon(daemon: Daemon): Promise<void> {
  if (daemon.exited || daemon.child.pid === undefined) return;
  const exited = new Promise<void>((r) => daemon.child.once('exit', () => r()));
  daemon.child.kill('SIGTERM');
  const timer = setTimeout(() => daemon.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

function slurmConf(dir: string, ports: { ctld: number; d: number }, cpus: number): string {
  return `${[
    'ClusterName=curlrltest',
    'SlurmctldHost=localhost',
    `SlurmctldPort=${ports.ctld}`,
    `SlurmdPort=${ports.d}`,
    'SlurmUser=root',
    'SlurmdUser=root',
    'AuthType=auth/munge',
    'CredType=cred/munge',
    // Our own munged: the machine's may be absent, stopped, or keyed differently.
    `AuthInfo=socket=${join(dir, 'munge', 'munge.sock')}`,
    `StateSaveLocation=${join(dir, 'state')}`,
    `SlurmdSpoolDir=${join(dir, 'spool')}`,
    `SlurmctldPidFile=${join(dir, 'slurmctld.pid')}`,
    `SlurmdPidFile=${join(dir, 'slurmd.pid')}`,
    `SlurmctldLogFile=${join(dir, 'slurmctld.log')}`,
    `SlurmdLogFile=${join(dir, 'slurmd.log')}`,
    // No cgroups here (containers, gVisor): track processes through /proc, bind nothing.
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_CPU',
    // Accounting needs slurmdbd and a database; without it sacct answers "disabled" and squeue must do.
    'JobAcctGatherType=jobacct_gather/none',
    'AccountingStorageType=accounting_storage/none',
    'JobCompType=jobcomp/none',
    'MpiDefault=none',
    'MailProg=/bin/true',
    'ReturnToService=2',
    // Finished tasks stay visible to squeue this long.
    'MinJobAge=600',
    // Time for a run to write its checkpoint between Slurm's SIGTERM and SIGKILL.
    'KillWait=30',
    'SchedulerType=sched/backfill',
    `NodeName=localhost NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=1000 State=UNKNOWN`,
    'PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP',
  ].join('\n')}\n`;
}

async function waitFor(what: string, check: () => boolean, daemons: Daemon[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return;
    const dead = daemons.find((d) => d.exited);
    if (dead) throw new Error(`${dead.name} exited while waiting for ${what}:\n${tail(dead.log)}`);
    await sleep(200);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}:\n${daemons.map((d) => `--- ${d.name}\n${tail(d.log)}`).join('\n')}`);
}

export async function startSlurmCluster(): Promise<SlurmCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'curl-rl-slurm-'));
  // munged refuses a socket whose directory is not searchable by everyone, and a key others can read.
  chmodSync(dir, 0o755);
  const mungeDir = join(dir, 'munge');
  mkdirSync(mungeDir, { mode: 0o755 });
  for (const sub of ['state', 'spool']) mkdirSync(join(dir, sub));
  const key = join(mungeDir, 'munge.key');
  writeFileSync(key, randomBytes(1024), { mode: 0o600 });

  const conf = join(dir, 'slurm.conf');
  const env: NodeJS.ProcessEnv = { ...process.env, SLURM_CONF: conf };
  const cpus = Math.min(availableParallelism(), detectedCpus(env) ?? availableParallelism());
  writeFileSync(conf, slurmConf(dir, { ctld: await freePort(), d: await freePort() }, cpus));

  const daemons: Daemon[] = [];
  const stop = async (): Promise<void> => {
    try {
      // Jobs first: their slurmstepd processes outlive slurmd.
      if (daemons.some((d) => d.name === 'slurmctld' && !d.exited)) {
        try {
          const ids = execFileSync('squeue', ['-h', '-t', 'all', '-o', '%A'], { env }).toString().split('\n').filter(Boolean);
          if (ids.length > 0) execFileSync('scancel', ids, { env, stdio: 'ignore' });
          const deadline = Date.now() + 40_000;
          while (Date.now() < deadline) {
            const live = execFileSync('squeue', ['-h', '-t', 'running,completing,configuring', '-o', '%A'], { env }).toString().trim();
            if (live === '') break;
            await sleep(500);
          }
        } catch {
          // The controller may already be gone; the daemons are stopped below all the same.
        }
      }
      for (const daemon of [...daemons].reverse()) await stopDaemon(daemon);
    } finally {
      if (!process.env.CURL_RL_KEEP_SLURM_DIR) rmSync(dir, { recursive: true, force: true });
    }
  };

  try {
    daemons.push(
      startDaemon('munged', 'munged', [
        '--foreground', `--socket=${join(mungeDir, 'munge.sock')}`, `--key-file=${key}`, `--pid-file=${join(mungeDir, 'munged.pid')}`,
        `--log-file=${join(mungeDir, 'munged.log')}`, `--seed-file=${join(mungeDir, 'munged.seed')}`,
      ], dir, env),
    );
    await waitFor('the munge socket', () => existsSync(join(mungeDir, 'munge.sock')), daemons, 15_000);
    daemons.push(startDaemon('slurmctld', 'slurmctld', ['-D', '-f', conf], dir, env));
    daemons.push(startDaemon('slurmd', 'slurmd', ['-D', '-N', 'localhost', '-f', conf], dir, env));
    await waitFor(
      'the node to be idle (sinfo)',
      () => {
        try {
          return execFileSync('sinfo', ['-h', '-o', '%t'], { env, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() === 'idle';
        } catch {
          return false;
        }
      },
      daemons,
      60_000,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { dir, env, cpus, stop };
}
