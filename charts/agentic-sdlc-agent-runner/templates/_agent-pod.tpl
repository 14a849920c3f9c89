{{/* The agent Pod manifest (see pod-template.yaml, which renders it into a ConfigMap). */}}
{{- define "agentic-sdlc-agent-runner.agentPod" -}}
{{- $gitDir := include "agentic-sdlc-agent-runner.agentGitDir" . }}
{{- $agentSecret := include "agentic-sdlc-agent-runner.agentSecretName" . }}
{{- $uid := int .Values.agents.runAsUser }}
{{- /* Each container of the pod runs as a uid of its own (the worker refuses the template otherwise): say which values clash. */}}
{{- $seen := dict }}
{{- range $name, $u := dict "agents.runAsUser" .Values.agents.runAsUser "agents.phases.checkoutRunAsUser" .Values.agents.phases.checkoutRunAsUser "agents.phases.publishRunAsUser" .Values.agents.phases.publishRunAsUser "agents.gateway.runAsUser" .Values.agents.gateway.runAsUser }}
{{- $k := toString (int $u) }}
{{- if hasKey $seen $k }}
{{- fail (printf "%s and %s are both %s: the agent, checkout, publish and gateway containers each need a uid of their own (only checkout and publish hold the git credential, only the gateway the LLM keys)" (get $seen $k) $name $k) }}
{{- end }}
{{- $_ := set $seen $k $name }}
{{- end }}
apiVersion: v1
kind: Pod
metadata:
  # Placeholder: the worker names each pod after its run, task and attempt (src/k8s/names.ts).
  name: {{ include "agentic-sdlc-agent-runner.suffixedName" (list . "agent") }}
  namespace: {{ include "agentic-sdlc-agent-runner.agentNamespace" . }}
  labels:
    {{- include "agentic-sdlc-agent-runner.agentSelectorLabels" . | nindent 4 }}
    app.kubernetes.io/name: {{ include "agentic-sdlc-agent-runner.name" . }}
    app.kubernetes.io/part-of: agentic-sdlc-runner
    {{- with .Values.agents.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.agents.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  enableServiceLinks: false
  serviceAccountName: {{ include "agentic-sdlc-agent-runner.agentServiceAccountName" . }}
  activeDeadlineSeconds: {{ .Values.agents.activeDeadlineSeconds }}
  terminationGracePeriodSeconds: {{ .Values.agents.terminationGracePeriodSeconds }}
  securityContext:
    runAsNonRoot: true
    runAsUser: {{ $uid }}
    runAsGroup: {{ $uid }}
    # The group the containers share the workspace through (the gateway writes its gateway.json there).
    fsGroup: {{ int .Values.agents.fsGroup }}
    seccompProfile:
      type: RuntimeDefault
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.agents.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.agents.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.agents.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- /*
  Four containers, four uids (docker/agent/README.md "Phases"): only checkout and publish mount the git
  credential; only the model gateway (a native sidecar, listed first so it runs before checkout and until
  the others have ended) mounts the LLM provider keys. The agent holds neither.
  */}}
  initContainers:
    {{- include "agentic-sdlc-agent-runner.gatewayContainer" . | nindent 4 }}
    {{- include "agentic-sdlc-agent-runner.agentPhaseContainer" (list . "checkout" (int .Values.agents.phases.checkoutRunAsUser)) | nindent 4 }}
  containers:
    - name: agent
      image: {{ include "agentic-sdlc-agent-runner.image" (list . .Values.agents.image) }}
      imagePullPolicy: {{ .Values.agents.image.pullPolicy }}
      args: ["agent"]
      env:
        - name: HOME
          value: /home/agent
        - name: SDLC_WORKDIR
          value: /workspace
        # No provider key here (nor anything else from a Secret): the agent waits for the gateway's
        # gateway.json and points OpenCode's providers at it with a placeholder key.
        - name: SDLC_GATEWAY_READY_FILE
          value: {{ include "agentic-sdlc-agent-runner.gatewayReadyFile" . }}
        {{- with (include "agentic-sdlc-agent-runner.checkedEnv" (list "agents.extraEnv" .Values.agents.extraEnv)) }}
        {{- . | nindent 8 }}
        {{- end }}
      resources:
        {{- toYaml .Values.agents.resources | nindent 8 }}
      securityContext:
        {{- include "agentic-sdlc-agent-runner.agentContainerSecurity" $uid | nindent 8 }}
      volumeMounts:
        - name: workspace
          mountPath: /workspace
        - name: home
          mountPath: /home/agent
        - name: tmp
          mountPath: /tmp
    {{- include "agentic-sdlc-agent-runner.agentPhaseContainer" (list . "publish" (int .Values.agents.phases.publishRunAsUser)) | nindent 4 }}
  volumes:
    - name: workspace
      emptyDir:
        sizeLimit: {{ .Values.agents.workspaceSizeLimit }}
    - name: home
      emptyDir:
        sizeLimit: {{ .Values.agents.homeSizeLimit }}
    - name: tmp
      emptyDir:
        sizeLimit: {{ .Values.agents.tmpSizeLimit }}
    # The phases' own git directory and hand-over (checkout and publish only; never the agent).
    - name: git-state
      emptyDir:
        sizeLimit: {{ .Values.agents.phases.gitStateSizeLimit }}
    - name: phase-tmp
      emptyDir:
        sizeLimit: {{ .Values.agents.tmpSizeLimit }}
    # The model gateway's state (gateway.json, usage.json): the gateway writes it, publish reads it; never the agent.
    - name: gateway-state
      emptyDir:
        sizeLimit: 16Mi
    - name: gateway-tmp
      emptyDir:
        sizeLimit: 64Mi
    - name: llm-keys
      secret:
        secretName: {{ $agentSecret }}
        # Owner and group may read; nobody writes. Only the gateway mounts it.
        defaultMode: 288  # 0440
        items:
          {{- range $key := include "agentic-sdlc-agent-runner.llmSecretKeys" . | fromJsonArray }}
          - key: {{ $key }}
            path: {{ $key }}
          {{- end }}
    - name: git-credentials
      secret:
        secretName: {{ $agentSecret }}
        # Owner and group (fsGroup) may read; nobody writes. Only checkout and publish mount it.
        defaultMode: 288  # 0440: decimal, because YAML 1.1 and 1.2 read a leading-zero octal differently
        items:
          {{- if eq .Values.agents.git.auth "ssh" }}
          - key: ssh-privatekey
            path: ssh-privatekey
          - key: known_hosts
            path: known_hosts
          {{- else }}
          - key: token
            path: token
          {{- end }}
{{- end }}


{{/* The hardened securityContext of an agent pod container running as the given uid. */}}
{{- define "agentic-sdlc-agent-runner.agentContainerSecurity" -}}
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
privileged: false
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* checkout or publish: the agent image in that phase, with the git credential and the git state volume. (list $ phase uid) */}}
{{- define "agentic-sdlc-agent-runner.agentPhaseContainer" -}}
{{- $ := index . 0 }}
{{- $phase := index . 1 }}
{{- $gitDir := include "agentic-sdlc-agent-runner.agentGitDir" $ -}}
- name: {{ $phase }}
  image: {{ include "agentic-sdlc-agent-runner.image" (list $ $.Values.agents.image) }}
  imagePullPolicy: {{ $.Values.agents.image.pullPolicy }}
  args: [{{ $phase | quote }}]
  env:
    - name: HOME
      value: /tmp
    - name: SDLC_WORKDIR
      value: /workspace
    - name: SDLC_GIT_STATE_DIR
      value: /sdlc-git
    {{- if eq $phase "publish" }}
    - name: SDLC_GATEWAY_STATE_DIR
      value: {{ include "agentic-sdlc-agent-runner.gatewayStateDir" $ }}
    {{- end }}
    - name: SDLC_GIT_AUTHOR_NAME
      value: {{ $.Values.agents.git.authorName | quote }}
    - name: SDLC_GIT_AUTHOR_EMAIL
      value: {{ $.Values.agents.git.authorEmail | quote }}
    {{- if eq $.Values.agents.git.auth "ssh" }}
    - name: SDLC_GIT_SSH_KEY_FILE
      value: {{ printf "%s/ssh-privatekey" $gitDir }}
    - name: SDLC_GIT_KNOWN_HOSTS_FILE
      value: {{ printf "%s/known_hosts" $gitDir }}
    {{- else }}
    - name: SDLC_GIT_TOKEN_FILE
      value: {{ printf "%s/token" $gitDir }}
    - name: SDLC_GIT_USERNAME
      value: {{ $.Values.agents.git.username | quote }}
    {{- end }}
    {{- with (include "agentic-sdlc-agent-runner.checkedEnv" (list "agents.extraEnv" $.Values.agents.extraEnv)) }}
    {{- . | nindent 4 }}
    {{- end }}
  resources:
    {{- toYaml $.Values.agents.phases.resources | nindent 4 }}
  securityContext:
    {{- include "agentic-sdlc-agent-runner.agentContainerSecurity" (index . 2) | nindent 4 }}
  volumeMounts:
    - name: workspace
      mountPath: /workspace
    - name: git-state
      mountPath: /sdlc-git
    - name: phase-tmp
      mountPath: /tmp
    - name: git-credentials
      mountPath: {{ $gitDir }}
      readOnly: true
    {{- if eq $phase "publish" }}
    # The gateway's usage.json: what the task's model usage was (and whether its budget ran out).
    - name: gateway-state
      mountPath: {{ include "agentic-sdlc-agent-runner.gatewayStateDir" $ }}
      readOnly: true
    {{- end }}
{{- end }}

{{/* Where the gateway's Secret volume (the LLM provider keys) is mounted, its state dir, and its gateway.json in the workspace. */}}
{{- define "agentic-sdlc-agent-runner.llmKeyDir" -}}/var/run/secrets/sdlc-llm{{- end }}
{{- define "agentic-sdlc-agent-runner.gatewayStateDir" -}}/sdlc-gateway{{- end }}
{{- define "agentic-sdlc-agent-runner.gatewayReadyFile" -}}/workspace/.sdlc-gateway.json{{- end }}

{{/* The agent Secret keys the providers read, each once (a JSON list). */}}
{{- define "agentic-sdlc-agent-runner.llmSecretKeys" -}}
{{- $keys := list }}
{{- range .Values.agents.llmProviders }}{{ $keys = append $keys .secretKey }}{{ end }}
{{- $keys | uniq | toJson }}
{{- end }}

{{/*
The model gateway (docker/agent/model-gateway.js): a native sidecar (init container, restartPolicy
Always) with a uid of its own, the only container that mounts the LLM provider keys. OpenCode in the
agent container reaches it over the pod's loopback; it forwards with the real key, meters usage into
/sdlc-gateway/usage.json (publish reads it) and keeps the task's budget. SDLC_GATEWAY_BUDGET here is the
chart's default: a run with --max-tokens-per-task / --max-cost-per-task replaces it (the worker's task env wins).
*/}}
{{- define "agentic-sdlc-agent-runner.gatewayContainer" -}}
{{- $g := .Values.agents.gateway }}
{{- $keyDir := include "agentic-sdlc-agent-runner.llmKeyDir" . }}
{{- if not .Values.agents.llmProviders }}
{{- fail "agents.llmProviders: at least one provider is needed: the agent pod's model gateway serves the agent's models from it" }}
{{- end }}
{{- $providers := list }}
{{- $ids := dict }}
{{- range .Values.agents.llmProviders }}
{{- if hasKey $ids .id }}
{{- fail (printf "agents.llmProviders: the id %q is listed twice; each provider id is one path of the model gateway" .id) }}
{{- end }}
{{- $_ := set $ids .id true }}
{{- /* keyFile relative: the gateway takes it in SDLC_GATEWAY_KEYS_DIR, the mounted Secret. */}}
{{- $providers = append $providers (dict "id" .id "api" .api "baseURL" .baseURL "keyFile" .secretKey) }}
{{- end }}
{{- $budget := dict }}
{{- with .Values.agents.budget.maxTokensPerTask }}{{ $_ := set $budget "maxTokens" . }}{{ end }}
{{- with .Values.agents.budget.maxCostPerTask }}{{ $_ := set $budget "maxCost" . }}{{ end -}}
- name: gateway
  image: {{ include "agentic-sdlc-agent-runner.image" (list . .Values.agents.image) }}
  imagePullPolicy: {{ .Values.agents.image.pullPolicy }}
  args: ["gateway"]
  # A native sidecar: starts before checkout, runs next to agent and publish, stopped after them.
  restartPolicy: Always
  env:
    - name: HOME
      value: /tmp
    - name: SDLC_GATEWAY_PROVIDERS
      value: {{ toJson $providers | quote }}
    - name: SDLC_GATEWAY_KEYS_DIR
      value: {{ $keyDir }}
    - name: SDLC_GATEWAY_LISTEN
      value: "127.0.0.1:4318"
    - name: SDLC_GATEWAY_STATE_DIR
      value: {{ include "agentic-sdlc-agent-runner.gatewayStateDir" . }}
    - name: SDLC_GATEWAY_READY_FILE
      value: {{ include "agentic-sdlc-agent-runner.gatewayReadyFile" . }}
    - name: SDLC_GATEWAY_PRICING
      value: {{ toJson ($g.pricing | default dict) | quote }}
    {{- if $budget }}
    - name: SDLC_GATEWAY_BUDGET
      value: {{ toJson $budget | quote }}
    {{- end }}
    {{- with (include "agentic-sdlc-agent-runner.checkedEnv" (list "agents.extraEnv" .Values.agents.extraEnv)) }}
    {{- . | nindent 4 }}
    {{- end }}
  resources:
    {{- toYaml $g.resources | nindent 4 }}
  securityContext:
    {{- include "agentic-sdlc-agent-runner.agentContainerSecurity" (int $g.runAsUser) | nindent 4 }}
  volumeMounts:
    - name: llm-keys
      mountPath: {{ $keyDir }}
      readOnly: true
    - name: gateway-state
      mountPath: {{ include "agentic-sdlc-agent-runner.gatewayStateDir" . }}
    # Only for its gateway.json copy (SDLC_GATEWAY_READY_FILE), which the agent waits for.
    - name: workspace
      mountPath: /workspace
    - name: gateway-tmp
      mountPath: /tmp
{{- end }}
