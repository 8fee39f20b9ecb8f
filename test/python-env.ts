/*
 * The Python of the tests that check curl-rl against real Python packages
 * (TensorBoard reading our event files, Gymnasium behind the bridge). .ci/run
 * installs them into a virtual environment from the local package index and
 * exports CURL_RL_TEST_PYTHON; elsewhere the tests take the PATH's python3 if
 * it has the modules, and skip otherwise (under CI=true a skip fails CI).
 */
import { spawnSync } from 'node:child_process';

/** The pip line that makes a Python ready for these tests. */
export const pipInstallHint = 'python3 -m venv .venv && .venv/bin/pip install tensorboard gymnasium pygame msgpack numpy, then CURL_RL_TEST_PYTHON=.venv/bin/python npm test';

/** The first of CURL_RL_TEST_PYTHON and python3 that imports every module, or undefined. */
export function findTestPython(modules: readonly string[]): string | undefined {
  const explicit = process.env.CURL_RL_TEST_PYTHON;
  for (const candidate of explicit ? [explicit] : ['python3']) {
    const r = spawnSync(candidate, ['-c', `import ${modules.join(', ')}`], { stdio: 'ignore', timeout: 60_000 });
    if (r.status === 0) return candidate;
  }
  return undefined;
}

/** Runs a Python script, feeding it `input` as JSON on stdin, and parses the JSON it prints last. */
export function runPythonJson<T>(python: string, script: string, input: unknown, options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): T {
  const run = spawnSync(python, ['-c', script], {
    input: JSON.stringify(input),
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 120_000,
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, ...options.env },
  });
  if (run.status !== 0) throw new Error(`python exited with ${run.status ?? run.signal}:\n${run.stderr.slice(-3000)}`);
  const last = run.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as T;
}
