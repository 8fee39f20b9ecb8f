// How to get the native conv engine, in one sentence: the build script says it when it cannot
// build (npm ci, npm run build:native), and a run says it when it finds no addon (addon.ts).
export const BUILD_COMMAND = 'npm run build:native';
export const BUILD_HINT =
  `Build it with \`${BUILD_COMMAND}\` (it needs libtorch: on Debian/Ubuntu \`sudo apt-get install libtorch-dev\`; ` +
  'elsewhere `pip install torch` for a python3 on the PATH, or set LIBTORCH_DIR to an unpacked libtorch; the newest found is used).';
