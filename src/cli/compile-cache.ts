/**
 * Imported first by main.ts, before any other module loads. Node 22.1+ can keep the compiled code of
 * the CLI and the SDKs it loads between runs (in the OS temp directory; NODE_DISABLE_COMPILE_CACHE=1
 * turns it off), which shortens every command's start. Node 20 has no such API: there it does nothing.
 */
import nodeModule from 'node:module';

(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();
