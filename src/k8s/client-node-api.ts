/**
 * The parts of @kubernetes/client-node the runner uses at run time: the entry point of the bundle
 * scripts/build-kubernetes-client.ts builds (loaded through ./client-node.ts). Add a name here when the
 * runner needs another value from the library; types can be imported from the package directly.
 */
export { AuthenticationV1Api, AuthorizationV1Api, CoreV1Api, KubeConfig, Observable, ServerConfiguration, createConfiguration } from '@kubernetes/client-node';
