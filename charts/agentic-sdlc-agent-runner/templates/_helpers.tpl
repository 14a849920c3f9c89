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

{{/* The DNS egress rule every NetworkPolicy of the chart starts with (networkPolicy.dns: the resolvers' peers). */}}
{{- define "agentic-sdlc-agent-runner.dnsEgressRule" -}}
- to:
    {{- toYaml .Values.networkPolicy.dns | nindent 4 }}
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end }}

{{/* ---- The egress proxy (egress.mode: proxy; src/egress/main.ts, docs/operations.md "Egress") ---- */}}

{{/* "true" when agent egress goes through the proxy (egress.mode: proxy); empty for `rules`. */}}
{{- define "agentic-sdlc-agent-runner.egressProxyMode" -}}
{{- if eq .Values.egress.mode "proxy" }}true{{ end }}
{{- end }}

{{- define "agentic-sdlc-agent-runner.egressProxyName" -}}
{{- include "agentic-sdlc-agent-runner.suffixedName" (list . "egress-proxy") }}
{{- end }}

{{/* Labels of the proxy pods (component=egress-proxy is part of its selector; the agents' NetworkPolicy names them). */}}
{{- define "agentic-sdlc-agent-runner.egressProxySelectorLabels" -}}
{{ include "agentic-sdlc-agent-runner.selectorLabels" . }}
app.kubernetes.io/component: egress-proxy
{{- end }}

{{- define "agentic-sdlc-agent-runner.egressProxyServiceAccountName" -}}
{{- default (include "agentic-sdlc-agent-runner.egressProxyName" .) .Values.egress.proxy.serviceAccount.name }}
{{- end }}

{{- define "agentic-sdlc-agent-runner.egressTicketKeySecretName" -}}
{{- default (include "agentic-sdlc-agent-runner.suffixedName" (list . "egress-ticket-keys")) .Values.egress.ticketKey.existingSecret }}
{{- end }}

{{/* Where the proxy and the worker mount the ticket key Secret, and its one file (EGRESS_TICKET_KEY_FILES, SDLC_EGRESS_TICKET_KEY_FILE). */}}
{{- define "agentic-sdlc-agent-runner.egressTicketKeyDir" -}}/var/run/secrets/sdlc-egress{{- end }}
{{- define "agentic-sdlc-agent-runner.egressTicketKeyFile" -}}/var/run/secrets/sdlc-egress/ticket-keys{{- end }}

{{/* host:port of the proxy Service as agent pods reach it from any namespace (SDLC_EGRESS_PROXY). */}}
{{- define "agentic-sdlc-agent-runner.egressProxyAddress" -}}
{{- printf "%s.%s.svc.%s:%d" (include "agentic-sdlc-agent-runner.egressProxyName" .) .Release.Namespace .Values.egress.proxy.clusterDomain (int .Values.egress.proxy.port) }}
{{- end }}

{{/* The proxy image: egress.proxy.image, or the worker's image (which carries dist/src/egress) when its repository is empty. */}}
{{- define "agentic-sdlc-agent-runner.egressProxyImage" -}}
{{- $img := .Values.egress.proxy.image }}
{{- if not $img.repository }}{{ $img = .Values.image }}{{ end }}
{{- include "agentic-sdlc-agent-runner.image" (list . $img) }}
{{- end }}

{{- define "agentic-sdlc-agent-runner.egressProxyPullPolicy" -}}
{{- if .Values.egress.proxy.image.repository }}{{ .Values.egress.proxy.image.pullPolicy }}{{ else }}{{ .Values.image.pullPolicy }}{{ end }}
{{- end }}

{{- define "agentic-sdlc-agent-runner.egressProxyTerminationGracePeriodSeconds" -}}
{{- $p := .Values.egress.proxy }}
{{- $need := add (int $p.preStopSleepSeconds) (int $p.shutdownGraceSeconds) }}
{{- if kindIs "invalid" $p.terminationGracePeriodSeconds }}
{{- add $need 10 }}
{{- else }}
{{- if le (int $p.terminationGracePeriodSeconds) $need }}
{{- fail (printf "egress.proxy.terminationGracePeriodSeconds (%d) must be larger than egress.proxy.preStopSleepSeconds + egress.proxy.shutdownGraceSeconds (%d): the kubelet would kill the proxy while tunnels are still draining" (int $p.terminationGracePeriodSeconds) $need) }}
{{- end }}
{{- int $p.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/*
The denied ranges of one address family, with the metadata range the proxy refuses anyway, as a JSON
list for a NetworkPolicy ipBlock's `except`. Usage: include "agentic-sdlc-agent-runner.egressDeniedExcept" (list $ "ipv4")
*/}}
{{- define "agentic-sdlc-agent-runner.egressDeniedExcept" -}}
{{- $ := index . 0 }}
{{- $v6 := eq (index . 1) "ipv6" }}
{{- $out := ternary (list "fe80::/10") (list "169.254.0.0/16") $v6 }}
{{- range $.Values.egress.deniedCIDRs }}
{{- if eq (contains ":" .) $v6 }}{{ $out = append $out . }}{{ end }}
{{- end }}
{{- $out | uniq | toJson }}
{{- end }}

{{/*
The egress proxy's allowlist inputs are the values the worker gets, never a second copy: the git hosts
(SDLC_ALLOWED_GIT_HOSTS) and the providers' base URLs. `:*` (any port) has no allowlist form; say so here
rather than let the proxy refuse to start.
*/}}
{{- define "agentic-sdlc-agent-runner.egressGitHosts" -}}
{{- range .Values.agents.git.allowedHosts }}
{{- if hasSuffix ":*" . }}
{{- fail (printf "agents.git.allowedHosts: %q allows any port, which egress.mode=proxy cannot grant (the proxy allows host:port); name the port, e.g. %s" . (printf "%s:8443" (trimSuffix ":*" .))) }}
{{- end }}
{{- end }}
{{- join "," .Values.agents.git.allowedHosts }}
{{- end }}

{{- define "agentic-sdlc-agent-runner.egressProviderUrls" -}}
{{- $urls := list }}
{{- range .Values.agents.llmProviders }}{{ $urls = append $urls .baseURL }}{{ end }}
{{- $urls | uniq | join "," }}
{{- end }}

{{/*
Agent egress rules for egress.mode=rules with the denied ranges kept out: every `0.0.0.0/0` / `::/0`
ipBlock gets egress.deniedCIDRs of its family and the metadata range added to its `except` (a narrower
block is the operator's explicit choice and stays as written). Usage: include … (list $ rules)
*/}}
{{- define "agentic-sdlc-agent-runner.withDeniedRanges" -}}
{{- $ := index . 0 }}
{{- $rules := list }}
{{- range (index . 1) }}
{{- $rule := deepCopy . }}
{{- $peers := list }}
{{- range $rule.to }}
{{- $peer := . }}
{{- if and (hasKey $peer "ipBlock") (has $peer.ipBlock.cidr (list "0.0.0.0/0" "::/0")) }}
{{- $family := ternary "ipv6" "ipv4" (contains ":" $peer.ipBlock.cidr) }}
{{- $denied := include "agentic-sdlc-agent-runner.egressDeniedExcept" (list $ $family) | fromJsonArray }}
{{- $_ := set $peer.ipBlock "except" (concat (default (list) $peer.ipBlock.except) $denied | uniq) }}
{{- end }}
{{- $peers = append $peers $peer }}
{{- end }}
{{- $_ := set $rule "to" $peers }}
{{- $rules = append $rules $rule }}
{{- end }}
{{- toYaml $rules }}
{{- end }}
