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
    fsGroup: {{ $uid }}
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
  containers:
    - name: agent
      image: {{ include "agentic-sdlc-agent-runner.image" (list . .Values.agents.image) }}
      imagePullPolicy: {{ .Values.agents.image.pullPolicy }}
      env:
        - name: HOME
          value: /home/agent
        - name: SDLC_WORKDIR
          value: /workspace
        - name: SDLC_GIT_AUTHOR_NAME
          value: {{ .Values.agents.git.authorName | quote }}
        - name: SDLC_GIT_AUTHOR_EMAIL
          value: {{ .Values.agents.git.authorEmail | quote }}
        {{- if eq .Values.agents.git.auth "ssh" }}
        - name: SDLC_GIT_SSH_KEY_FILE
          value: {{ printf "%s/ssh-privatekey" $gitDir }}
        - name: SDLC_GIT_KNOWN_HOSTS_FILE
          value: {{ printf "%s/known_hosts" $gitDir }}
        {{- else }}
        - name: SDLC_GIT_TOKEN_FILE
          value: {{ printf "%s/token" $gitDir }}
        - name: SDLC_GIT_USERNAME
          value: {{ .Values.agents.git.username | quote }}
        {{- end }}
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
        runAsNonRoot: true
        runAsUser: {{ $uid }}
        runAsGroup: {{ $uid }}
        privileged: false
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities:
          drop: ["ALL"]
        seccompProfile:
          type: RuntimeDefault
      volumeMounts:
        - name: workspace
          mountPath: /workspace
        - name: home
          mountPath: /home/agent
        - name: tmp
          mountPath: /tmp
        - name: git-credentials
          mountPath: {{ $gitDir }}
          readOnly: true
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
    - name: git-credentials
      secret:
        secretName: {{ $agentSecret }}
        # Owner and group (fsGroup) may read; nobody writes.
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
