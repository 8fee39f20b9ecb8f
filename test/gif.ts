/**
 * The images of a GIF, found by walking its blocks (GIF89a: header, logical screen and global colour table,
 * then extensions and image descriptors, each followed by sub-blocks, up to the trailer), with each image's size.
 * Independent of the encoder the code uses, so a test can count what was written.
 */
export function gifImages(gif: Uint8Array): Array<{ width: number; height: number }> {
  if (Buffer.from(gif.subarray(0, 6)).toString('latin1') !== 'GIF89a') throw new Error('not a GIF89a file');
  const skipSubBlocks = (at: number): number => {
    while (gif[at] !== 0) {
      if (at >= gif.length) throw new Error('GIF ends inside a data block');
      at += gif[at]! + 1;
    }
    return at + 1;
  };
  const u16 = (at: number): number => gif[at]! | (gif[at + 1]! << 8);
  const colourTable = (flags: number): number => (flags & 0x80 ? 3 * 2 ** ((flags & 7) + 1) : 0);
  let at = 13 + colourTable(gif[10]!);
  const images: Array<{ width: number; height: number }> = [];
  for (;;) {
    const block = gif[at];
    if (block === 0x3b) return images;
    if (block === 0x21) at = skipSubBlocks(at + 2);
    else if (block === 0x2c) {
      images.push({ width: u16(at + 5), height: u16(at + 7) });
      // descriptor (10 bytes), local colour table, LZW minimum code size, then the image data's sub-blocks
      at = skipSubBlocks(at + 10 + colourTable(gif[at + 9]!) + 1);
    } else throw new Error(`not a GIF block at byte ${at}: 0x${(block ?? 0).toString(16)}`);
  }
}

export function gifFrameCount(gif: Uint8Array): number {
  return gifImages(gif).length;
}
