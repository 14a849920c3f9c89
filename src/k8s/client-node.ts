/**
 * @kubernetes/client-node as the runner loads it: one tree-shaken bundle of ./client-node-api.ts
 * (dist/vendor/client-node.js, built by scripts/build-kubernetes-client.ts). The package's index, which
 * KubeConfig alone pulls in, evaluates every generated API and all ~700 models: measured here, 27 MB of
 * heap, 66 MB of RSS and 0.5 s of start-up for every worker and CLI process; the bundle costs 8 MB,
 * 25 MB and 0.12 s (docs/benchmarks.md). Same library code, same version: only what is never
 * reachable from these names is left out.
 *
 * Under jest (TypeScript sources, no build) the path maps to the package itself (jest.config.js).
 * Types come from the package: `import type { V1Pod } from '@kubernetes/client-node'` loads nothing.
 */
import type * as ClientNodeApi from './client-node-api';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const api = require('../../vendor/client-node') as typeof ClientNodeApi;

export const { AuthenticationV1Api, AuthorizationV1Api, CoreV1Api, KubeConfig, Observable, ServerConfiguration, createConfiguration } = api;
export type AuthenticationV1Api = ClientNodeApi.AuthenticationV1Api;
export type AuthorizationV1Api = ClientNodeApi.AuthorizationV1Api;
export type CoreV1Api = ClientNodeApi.CoreV1Api;
export type KubeConfig = ClientNodeApi.KubeConfig;
export type Observable<T> = ClientNodeApi.Observable<T>;
export type ServerConfiguration<T extends { [key: string]: string }> = ClientNodeApi.ServerConfiguration<T>;
