{{/* The agent Pod manifest (see pod-template.yaml, which renders it into a ConfigMap). */}}
{{- define "agentic-sdlc-agent-runner.agentPod" -}}
{{- $gitDir := include "agentic-sdlc-agent-runner.agentGitDir" . }}
{{- $agentSecret := include "agentic-sdlc-agent-runner.agentSecretName" . }}
{{- $uid := int .Values.agents.runAsUser }}
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
    # The group the three phases share the workspace through.
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
  {{- /* Three phases, three uids (docker/agent/README.md "Phases"): only checkout and publish mount the git credential. */}}
  initContainers:
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
        {{- range .Values.agents.llmProviders }}
        - name: {{ .envName }}
          valueFrom:
            secretKeyRef:
              name: {{ $agentSecret }}
              key: {{ .secretKey }}
        {{- end }}
        {{- if .Values.agents.opencodeServerPassword.enabled }}
        - name: OPENCODE_SERVER_PASSWORD
          valueFrom:
            secretKeyRef:
              name: {{ $agentSecret }}
              key: opencode-server-password
        {{- end }}
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
{{- end }}
