import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/**
 * The last `maxLines` lines of a file (reading at most `maxBytes` from its
 * end), or '' if it cannot be read. Used for the stderr file of a remote
 * process, which may be arbitrarily long by the time something fails.
 */
export function readTail(path: string, maxLines = 30, maxBytes = 16_384): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const size = fstatSync(fd).size;
    const n = Math.min(size, maxBytes);
    const buf = Buffer.alloc(n);
    readSync(fd, buf, 0, n, size - n);
    let text = buf.toString('utf8');
    // A cut in the middle of the file leaves a partial first line; drop it.
    if (n < size) text = text.slice(text.indexOf('\n') + 1);
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    return lines.slice(-maxLines).join('\n');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
