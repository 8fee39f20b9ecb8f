// Types of install-hint.mjs, which the build script reads with plain node.
export declare const BUILD_COMMAND: string;
export declare const BUILD_HINT: string;
