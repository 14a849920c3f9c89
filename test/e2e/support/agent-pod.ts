/**
 * The real agent's pod as the chart shapes it, for tests and the first-run demo that run
 * docker/agent-entrypoint.sh on the test kubelet: the git token, the provider key and the OpenCode
 * provider config reach the pod only through a Secret and a ConfigMap (secretKeyRef, secret/configMap
 * volumes, emptyDirs), which the kubelet materialises (mountVolumes), each phase as its own uid.
 */
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';

export const AGENT_GIT_SECRET = 'agent-git';
export const AGENT_LLM_SECRET = 'agent-llm';
export const AGENT_OPENCODE_CONFIGMAP = 'agent-opencode';

export interface AgentPodTemplateOptions {
  image: string;
  /** Host path of the opencode binary (the image's own path does not exist on the test kubelet's host). */
  opencodeBin: string;
  /** The provider the gateway sidecar fronts: OpenCode's provider id, its wire format and API base (the scripted model's, in tests). */
  provider: { id: string; api: 'openai' | 'anthropic'; baseURL: string };
  /** The gateway's pricing table (USD per million tokens): what the run's costs are computed with. */
  pricing?: Record<string, { input: number; output: number }>;
}

/**
 * The agent pod template the worker reads (docs/pod-template.md): the three phases with their own uids
 * (docker/agent/README.md "Phases"), secrets by reference and mounted files only. The git credential and
 * the phases' git state are mounted in checkout and publish only; the test kubelet lets a container reach
 * only the volumes it mounts, so the agent's process cannot read them. The model gateway sidecar alone
 * mounts the provider key; the agent's OpenCode reaches the model through it.
 */
export function agentPodTemplate(o: AgentPodTemplateOptions): string {
  const gatewayState = (name: string) => (name === 'publish' ? `
        - { name: gateway-state, mountPath: /sdlc-gateway, readOnly: true }` : '');
  const gatewayEnv = (name: string) => (name === 'publish' ? `
        - { name: SDLC_GATEWAY_STATE_DIR, value: /sdlc-gateway }` : '');
  const phase = (name: 'checkout' | 'publish', uid: number) => `
    - name: ${name}
      image: ${o.image}
      args: [${name}]
      securityContext: { runAsUser: ${uid}, runAsGroup: ${uid} }
      env:
        - { name: SDLC_WORKDIR, value: /workspace }
        - { name: SDLC_GIT_STATE_DIR, value: /sdlc-git }
        - { name: SDLC_GIT_TOKEN_FILE, value: /var/run/secrets/sdlc-git/token }
        - { name: SDLC_GIT_USERNAME, value: sdlc-bot }
        - { name: SDLC_GIT_AUTHOR_NAME, value: SDLC Agent }
        - { name: SDLC_GIT_AUTHOR_EMAIL, value: agent@sdlc.test }${gatewayEnv(name)}
      volumeMounts:
        - { name: workspace, mountPath: /workspace }
        - { name: git-state, mountPath: /sdlc-git }
        - { name: git-credentials, mountPath: /var/run/secrets/sdlc-git, readOnly: true }${gatewayState(name)}`;
  const providers = JSON.stringify([{ ...o.provider, keyFile: 'api-key' }]);
  return `apiVersion: v1
kind: Pod
spec:
  terminationGracePeriodSeconds: 10
  securityContext: { runAsNonRoot: true, fsGroup: 10000 }
  initContainers:
    - name: gateway
      image: ${o.image}
      args: [gateway]
      restartPolicy: Always
      securityContext: { runAsUser: 10004, runAsGroup: 10004 }
      env:
        - { name: SDLC_GATEWAY_PROVIDERS, value: ${JSON.stringify(providers)} }
        - { name: SDLC_GATEWAY_KEYS_DIR, value: /var/run/secrets/sdlc-llm }
        # Pods share the test kubelet's loopback: any free port (the agent reads it from the ready file).
        - { name: SDLC_GATEWAY_LISTEN, value: "127.0.0.1:0" }
        - { name: SDLC_GATEWAY_STATE_DIR, value: /sdlc-gateway }
        - { name: SDLC_GATEWAY_READY_FILE, value: /workspace/.sdlc-gateway.json }
        - { name: SDLC_GATEWAY_PRICING, value: ${JSON.stringify(JSON.stringify(o.pricing ?? {}))} }
      volumeMounts:
        - { name: llm-keys, mountPath: /var/run/secrets/sdlc-llm, readOnly: true }
        - { name: gateway-state, mountPath: /sdlc-gateway }
        - { name: workspace, mountPath: /workspace }${phase('checkout', 10002)}
  containers:
    - name: agent
      image: ${o.image}
      args: [agent]
      securityContext: { runAsUser: 10001, runAsGroup: 10001 }
      env:
        - name: HOME
          value: /home/agent
        - name: SDLC_WORKDIR
          value: /workspace
        - name: SDLC_OPENCODE_CONFIG_FILE
          value: /etc/sdlc-agent/opencode.json
        - name: OPENCODE_BIN
          value: ${JSON.stringify(o.opencodeBin)}
        - name: SDLC_GATEWAY_READY_FILE
          value: /workspace/.sdlc-gateway.json
      volumeMounts:
        - { name: workspace, mountPath: /workspace }
        - { name: home, mountPath: /home/agent }
        - { name: opencode-config, mountPath: /etc/sdlc-agent, readOnly: true }${phase('publish', 10003)}
  volumes:
    - { name: workspace, emptyDir: {} }
    - { name: home, emptyDir: {} }
    - { name: git-state, emptyDir: {} }
    - { name: gateway-state, emptyDir: {} }
    - name: llm-keys
      secret:
        secretName: ${AGENT_LLM_SECRET}
        defaultMode: 288
        items: [{ key: api-key, path: api-key }]
    - name: git-credentials
      secret:
        secretName: ${AGENT_GIT_SECRET}
        defaultMode: 288
        items: [{ key: token, path: token }]
    - name: opencode-config
      configMap:
        name: ${AGENT_OPENCODE_CONFIGMAP}
`;
}

/** Creates the Secrets and the ConfigMap the template refers to (what the chart and ESO provide in a cluster). */
export async function createAgentPodSecrets(
  kubeconfigPath: string,
  namespace: string,
  s: { gitToken: string; apiKey: string; opencodeConfig: object },
): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespacedSecret({ namespace, body: { metadata: { name: AGENT_GIT_SECRET }, stringData: { token: s.gitToken } } });
  await core.createNamespacedSecret({ namespace, body: { metadata: { name: AGENT_LLM_SECRET }, stringData: { 'api-key': s.apiKey } } });
  await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: AGENT_OPENCODE_CONFIGMAP }, data: { 'opencode.json': JSON.stringify(s.opencodeConfig) } } });
}
