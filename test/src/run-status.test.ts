import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readStatus, writeStatus } from '../../src/run/status.js';

// One status.json reader serves the loop's tests, the sweeps and the report:
// it returns what train wrote, and undefined (never a throw) for a status a
// sweep or a report cannot use.
describe('status.json', () => {
  const dir = (): string => mkdtempSync(join(tmpdir(), 'run-status-'));

  it('reads back what writeStatus wrote, stamped with the time', () => {
    const run = dir();
    writeStatus(run, { state: 'failed', agentStep: 12, envStep: 48, reason: 'env crashed', wallClockSeconds: 3.5 });
    const status = readStatus(run)!;
    expect(status).toMatchObject({ state: 'failed', agentStep: 12, envStep: 48, reason: 'env crashed', wallClockSeconds: 3.5 });
    expect(Number.isNaN(Date.parse(status.updatedAt!))).toBe(false);
  });

  it('is undefined for a missing, truncated or foreign status, and reads one without the optional fields', () => {
    const run = dir();
    expect(readStatus(run)).toBeUndefined();
    writeFileSync(join(run, 'status.json'), '{"state": "runn');
    expect(readStatus(run)).toBeUndefined();
    writeFileSync(join(run, 'status.json'), JSON.stringify({ state: 'paused', agentStep: 1, envStep: 4 }));
    expect(readStatus(run)).toBeUndefined();
    writeFileSync(join(run, 'status.json'), JSON.stringify({ state: 'finished', agentStep: -1, envStep: 4 }));
    expect(readStatus(run)).toBeUndefined();
    writeFileSync(join(run, 'status.json'), JSON.stringify({ state: 'finished', agentStep: 1, envStep: 4 }));
    expect(readStatus(run)).toEqual({ state: 'finished', agentStep: 1, envStep: 4 });
  });
});
