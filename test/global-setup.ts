import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Every temp folder the tests make (theirs, the CLI's they spawn, Python's)
 * goes under one root that is removed when the run ends, so `npm test` leaves
 * nothing in the system temp dir however a test cleans up. Test workers and
 * their children inherit TMPDIR, which os.tmpdir() reads.
 */
export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'curl-rl-tests-'));
  // mkdtemp makes it 0700; daemons the tests start (munged checks every directory above its
  // socket) refuse a path that others cannot traverse, as /tmp itself allows
  chmodSync(root, 0o755);
  process.env.TMPDIR = root;
  return () => rmSync(root, { recursive: true, force: true });
}
