{{/*
Helper names are prefixed with the chart name so they cannot collide with a parent chart's helpers.
Every object name goes through "agentic-sdlc-agent-runner.suffixedName", which shortens the prefix
(not the suffix) so `<prefix>-<suffix>` stays a valid 63-character DNS label for any release name.
*/}}

{{- define "agentic-sdlc-agent-runner.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "agentic-sdlc-agent-runner.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Usage: include "agentic-sdlc-agent-runner.suffixedName" (list $ "worker") */}}
{{- define "agentic-sdlc-agent-runner.suffixedName" -}}
{{- $ctx := index . 0 }}
{{- $suffix := index . 1 }}
{{- $room := sub 62 (len $suffix) | int }}
{{- printf "%s-%s" (include "agentic-sdlc-agent-runner.fullname" $ctx | trunc $room | trimSuffix "-") $suffix }}
{{- end }}

{{- define "agentic-sdlc-agent-runner.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "agentic-sdlc-agent-runner.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agentic-sdlc-agent-runner.name" . }}
app.kubernetes.io/instance: {{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "agentic-sdlc-agent-runner.labels" -}}
helm.sh/chart: {{ include "agentic-sdlc-agent-runner.chart" . }}
{{ include "agentic-sdlc-agent-runner.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: agentic-sdlc-runner
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels of everything that belongs to the worker (component=worker is part of its selector). */}}
{{- define "agentic-sdlc-agent-runner.workerSelectorLabels" -}}
{{ include "agentic-sdlc-agent-runner.selectorLabels" . }}
app.kubernetes.io/component: worker
{{- end }}

{{/*
The agent pods' fixed labels: the worker's pod gateway and the NetworkPolicy select on these.
Not app.kubernetes.io/instance: Argo CD's label tracking owns that label (value: the Application
name, here the release name), and an agent pod (no owner) carrying it would count as part of the
Application, show as OutOfSync and be pruned while it runs. sdlc-runner.dev/release tells the
agents of releases sharing one agent namespace apart instead.
*/}}
{{- define "agentic-sdlc-agent-runner.agentSelectorLabels" -}}
app.kubernetes.io/managed-by: agentic-sdlc-runner
app.kubernetes.io/component: agent
sdlc-runner.dev/release: {{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "agentic-sdlc-agent-runner.agentNamespace" -}}
{{- default .Release.Namespace .Values.agents.namespace.name }}
{{- end }}

{{/* "true" when the agent pods live outside the release namespace. */}}
{{- define "agentic-sdlc-agent-runner.separateAgentNamespace" -}}
{{- if ne (include "agentic-sdlc-agent-runner.agentNamespace" .) .Release.Namespace }}true{{ end }}
{{- end }}

{{- define "agentic-sdlc-agent-runner.workerServiceAccountName" -}}
{{- default (include "agentic-sdlc-agent-runner.suffixedName" (list . "worker")) .Values.worker.serviceAccount.name }}
{{- end }}

{{- define "agentic-sdlc-agent-runner.agentServiceAccountName" -}}
{{- default (include "agentic-sdlc-agent-runner.suffixedName" (list . "agent")) .Values.agents.serviceAccount.name }}
{{- end }}

{{- define "agentic-sdlc-agent-runner.agentSecretName" -}}
{{- default (include "agentic-sdlc-agent-runner.suffixedName" (list . "agent")) .Values.secrets.agent.name }}
{{- end }}

{{- define "agentic-sdlc-agent-runner.workerSecretName" -}}
{{- default (include "agentic-sdlc-agent-runner.suffixedName" (list . "worker")) .Values.secrets.worker.name }}
{{- end }}

{{/* Usage: include "agentic-sdlc-agent-runner.image" (list $ .Values.image) — digest wins over tag. */}}
{{- define "agentic-sdlc-agent-runner.image" -}}
{{- $ctx := index . 0 }}
{{- $img := index . 1 }}
{{- if $img.digest }}
{{- printf "%s@%s" $img.repository $img.digest }}
{{- else }}
{{- printf "%s:%s" $img.repository (default $ctx.Chart.AppVersion $img.tag) }}
{{- end }}
{{- end }}

{{- define "agentic-sdlc-agent-runner.terminationGracePeriodSeconds" -}}
{{- $grace := int .Values.worker.shutdownGraceSeconds }}
{{- if kindIs "invalid" .Values.worker.terminationGracePeriodSeconds }}
{{- add $grace 15 }}
{{- else }}
{{- $tgps := int .Values.worker.terminationGracePeriodSeconds }}
{{- if le $tgps $grace }}
{{- fail (printf "worker.terminationGracePeriodSeconds (%d) must be larger than worker.shutdownGraceSeconds (%d): the kubelet would kill the worker before it finished draining" $tgps $grace) }}
{{- end }}
{{- $tgps }}
{{- end }}
{{- end }}

{{/*
Secrets never go into plain env: an extraEnv entry whose name looks like a credential must use valueFrom.
Usage: include "agentic-sdlc-agent-runner.checkedEnv" (list "worker.extraEnv" .Values.worker.extraEnv)
*/}}
{{- define "agentic-sdlc-agent-runner.checkedEnv" -}}
{{- $where := index . 0 }}
{{- range (index . 1) }}
{{- if eq $where "agents.extraEnv" }}
{{- /* It reaches every phase of the agent pod, the agent container too: that one may take nothing from a Secret (src/k8s/pod-manifest.ts). */}}
{{- if and (hasKey . "value") (regexMatch "(?i)(TOKEN|PASSWORD|SECRET|API_?KEY|PRIVATE_?KEY|CREDENTIAL)" .name) (not (hasSuffix "_FILE" .name)) }}
{{- fail (printf "%s: %s looks like a secret; agent pods take no secret through agents.extraEnv (LLM provider keys: agents.llmProviders, which only the model gateway reads)" $where .name) }}
{{- end }}
{{- if and (hasKey . "valueFrom") (hasKey .valueFrom "secretKeyRef") }}
{{- fail (printf "%s: %s comes from a Secret (valueFrom.secretKeyRef); agents.extraEnv reaches the agent container, which takes nothing from a Secret: the model gateway alone holds the LLM provider keys (agents.llmProviders)" $where .name) }}
{{- end }}
{{- else if and (hasKey . "value") (regexMatch "(?i)(TOKEN|PASSWORD|SECRET|API_?KEY|PRIVATE_?KEY|CREDENTIAL)" .name) (not (hasSuffix "_FILE" .name)) }}
{{- fail (printf "%s: %s looks like a secret; pass it with valueFrom.secretKeyRef instead of a plain value" $where .name) }}
{{- end }}
{{- end }}
{{- with (index . 1) }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/* "true" when the worker Secret holds Temporal credentials: then it must exist before the worker can start. */}}
{{- define "agentic-sdlc-agent-runner.workerNeedsTemporalSecret" -}}
{{- if or .Values.temporal.apiKey.enabled (and .Values.temporal.tls.enabled (or .Values.temporal.tls.clientCertificate .Values.temporal.tls.customCA)) }}true{{ end }}
{{- end }}

{{/* Paths the worker and the agent pods see (the contract with the worker's config loader and the agent entrypoint). */}}
{{- define "agentic-sdlc-agent-runner.configDir" -}}/etc/sdlc-runner{{- end }}
{{- define "agentic-sdlc-agent-runner.workerSecretDir" -}}/var/run/secrets/sdlc-runner{{- end }}
{{- define "agentic-sdlc-agent-runner.agentGitDir" -}}/var/run/secrets/sdlc-git{{- end }}
