#!/usr/bin/env bash
# Streams an agent pod's output: waits for the pod to start, follows its log until the container ends
# (reconnecting when the stream is cut while the pod still runs), then reports how the pod ended and
# exits with the agent's exit code. See scripts/README.md.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
CHART_NAME=agentic-sdlc-agent-runner
# The container whose log tells the task: publish in a pod of the three phases (it relays checkout's and the
# agent's lines and prints the result line), agent in a single-container pod.
CONTAINER=agent

usage() {
  cat <<EOF
Usage: $(basename "$0") [options] POD_NAME|TASK_ID

Follows the log of an agent pod, given its name or a task id (then the newest pod of that task).
Exits with the agent's exit code (0 success, 10 agent, 20 git, 30 config, 40 time limit, 50 budget).

Where:
  --environment ENV     dev, stg or prod: release agentic-sdlc-agent-runner-ENV in namespace agent-runner-ENV
  --namespace NS        namespace the release is installed in (env NAMESPACE)
  --release NAME        Helm release name (env RELEASE_NAME)
  --agent-namespace NS  namespace of the agent pods (default: the one the release's template names)

How:
  --no-follow           print the log so far and exit (exit code 0 while the pod still runs)
  --wait-seconds N      how long to wait for the pod to start (default: 600)
  --timestamps          prefix each line with its timestamp
  -h, --help            this help

Environment: NAMESPACE, RELEASE_NAME, ENVIRONMENT, KUBECONFIG, KUBECTL.
EOF
}

die() { printf 'tail-logs.sh: %s\n' "$*" >&2; exit 2; }
note() { printf '%s\n' "$*" >&2; }
need_value() { [[ $# -ge 2 && -n $2 ]] || die "option $1 needs a value (see --help)"; }

find_kubectl() {
  if [[ -n ${KUBECTL:-} ]]; then
    command -v "$KUBECTL" >/dev/null 2>&1 || die "kubectl: '$KUBECTL' (from \$KUBECTL) is not executable"
    command -v "$KUBECTL"; return
  fi
  if command -v kubectl >/dev/null 2>&1; then command -v kubectl; return; fi
  if [[ -x "$ROOT/.tools/bin/kubectl" ]]; then printf '%s\n' "$ROOT/.tools/bin/kubectl"; return; fi
  die "kubectl is required but was not found on PATH or in .tools/bin (run: bash scripts/setup.sh)"
}

environment=${ENVIRONMENT:-} namespace=${NAMESPACE:-} release=${RELEASE_NAME:-} agent_namespace=""
follow=true wait_seconds=600 timestamps=false target=""

while [[ $# -gt 0 ]]; do
  case $1 in
    --environment) need_value "$@"; environment=$2; shift 2 ;;
    --namespace|-n) need_value "$@"; namespace=$2; shift 2 ;;
    --release) need_value "$@"; release=$2; shift 2 ;;
    --agent-namespace) need_value "$@"; agent_namespace=$2; shift 2 ;;
    --no-follow) follow=false; shift ;;
    --wait-seconds) need_value "$@"; wait_seconds=$2; shift 2 ;;
    --timestamps) timestamps=true; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [[ -z $target ]] || die "one POD_NAME or TASK_ID expected, got '$target' and '$1'"; target=$1; shift ;;
  esac
done

[[ -n $target ]] || die "missing POD_NAME or TASK_ID (see --help)"
[[ $wait_seconds =~ ^[0-9]+$ ]] || die "--wait-seconds must be a whole number, got '$wait_seconds'"
if [[ -n $environment ]]; then
  [[ $environment =~ ^(dev|stg|prod)$ ]] || die "--environment must be dev, stg or prod, got '$environment'"
  release=${release:-$CHART_NAME-$environment}
  namespace=${namespace:-agent-runner-$environment}
fi

KUBECTL_BIN=$(find_kubectl)
kubectl() { "$KUBECTL_BIN" "$@"; }

label_value() { sed -E 's/[^A-Za-z0-9_.-]+/-/g' <<<"$1" | cut -c1-63 | sed -E 's/^[^A-Za-z0-9]+//; s/[^A-Za-z0-9]+$//'; }

resolve_agent_namespace() {
  # The release's pod template names the agent namespace; without a release it is the namespace given.
  [[ -n $agent_namespace ]] && { printf '%s\n' "$agent_namespace"; return; }
  local ns_args=() selector="app.kubernetes.io/component=pod-template,app.kubernetes.io/part-of=agentic-sdlc-runner" template
  [[ -n $namespace ]] && ns_args=(--namespace "$namespace")
  [[ -n $release ]] && selector+=",app.kubernetes.io/instance=$release"
  template=$(kubectl get configmap "${ns_args[@]}" -l "$selector" -o jsonpath='{.items[0].data.pod-template\.yaml}' 2>/dev/null || true)
  if [[ -n $template ]]; then
    kubectl patch --local -f - --type merge -p '{}' -o jsonpath='{.metadata.namespace}' <<<"$template"
    return
  fi
  printf '%s\n' "$namespace"
}

pod_ns=$(resolve_agent_namespace)
ns_args=()
[[ -n $pod_ns ]] && ns_args=(--namespace "$pod_ns")

pod=""
if kubectl get pod "${ns_args[@]}" "$target" -o name >/dev/null 2>&1; then
  pod=$target
else
  # Not a pod name: the newest pod of that task.
  pod=$(kubectl get pod "${ns_args[@]}" -l "sdlc-runner.dev/task=$(label_value "$target")" \
        --sort-by=.metadata.creationTimestamp -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' | tail -n 1) \
    || die "cannot list pods${pod_ns:+ in namespace $pod_ns}"
  [[ -n $pod ]] || die "no pod named '$target' and no pod for task '$target'${pod_ns:+ in namespace $pod_ns}"
fi

field() { kubectl get pod "${ns_args[@]}" "$pod" -o jsonpath="$1" 2>/dev/null || true; }
phase() { field '{.status.phase}'; }
[[ " $(field '{.spec.containers[*].name}') " == *" publish "* ]] && CONTAINER=publish

# Wait for the container to start (or for the pod to end without starting, e.g. a deadline).
deadline=$((SECONDS + wait_seconds))
last_reason=""
while :; do
  p=$(phase)
  case $p in
    Running|Succeeded|Failed) break ;;
    "") die "pod $pod disappeared" ;;
  esac
  reason=$(field "{.status.containerStatuses[?(@.name==\"$CONTAINER\")].state.waiting.reason}")
  if [[ -n $reason && $reason != "$last_reason" ]]; then
    note "pod $pod: $p ($reason: $(field "{.status.containerStatuses[?(@.name==\"$CONTAINER\")].state.waiting.message}"))"
    last_reason=$reason
  fi
  if ((SECONDS >= deadline)); then
    die "pod $pod is still $p after ${wait_seconds}s${last_reason:+ ($last_reason)}"
  fi
  sleep 1
done

log_args=(logs "${ns_args[@]}" "$pod" -c "$CONTAINER")

# Timestamps as fixed-width strings (9 fraction digits), so plain string comparison orders them.
# Usage: normalize_ts VAR TIMESTAMP (sets VAR; no subshell per log line).
normalize_ts() {
  local ts=${2%Z} frac=""
  if [[ $ts == *.* ]]; then frac=${ts#*.}; ts=${ts%%.*}; fi
  frac="${frac}000000000"
  printf -v "$1" '%s.%sZ' "$ts" "${frac:0:9}"
}

# Follows the log from `since` (empty: from the start), printing only lines newer than the last one
# printed, so a reconnect neither loses nor repeats lines (the apiserver's sinceTime has whole
# seconds, so the resumed stream starts a little early). Sets last_ts.
shopt -s lastpipe
last_ts="" last_raw_ts=""
stream_logs() {
  local args=("${log_args[@]}" --timestamps)
  $follow && args+=(--follow)
  [[ -n $1 ]] && args+=("--since-time=$1")
  local line ts norm
  kubectl "${args[@]}" | while IFS= read -r line || [[ -n $line ]]; do
    ts=${line%% *}
    normalize_ts norm "$ts"
    if [[ -n $last_ts && ! $norm > $last_ts ]]; then continue; fi
    last_ts=$norm last_raw_ts=$ts
    if $timestamps; then printf '%s\n' "$line"; else printf '%s\n' "${line#* }"; fi
  done || true
}

container_ended() {
  [[ $(phase) != Running || -n $(field "{.status.containerStatuses[?(@.name==\"$CONTAINER\")].state.terminated.exitCode}") ]]
}

if ! $follow; then
  stream_logs ""
  [[ $(phase) == Running ]] && exit 0
else
  stream_logs ""
  # A stream can end because the container ended or because the connection was cut. Until the pod
  # reports the end, resume from the last line printed. A follow stream blocks while the container
  # is quiet, so this only spins when the apiserver keeps refusing: give up after 30 such rounds.
  fruitless=0
  until container_ended; do
    ((fruitless < 30)) || die "the log stream of $pod keeps failing; giving up (the pod is still running)"
    note "(log stream of $pod ended while it still runs; resuming)"
    sleep 1
    before=$last_ts started=$SECONDS
    stream_logs "$last_raw_ts"
    if [[ $last_ts == "$before" && $((SECONDS - started)) -lt 2 ]]; then fruitless=$((fruitless + 1)); else fruitless=0; fi
  done
  # The container has ended; a cut stream may have missed its last lines. Read what is left.
  follow=false
  stream_logs "$last_raw_ts"
fi

# How it ended: the container's exit code is the agent's verdict (src/contract/agent-exit-codes.ts).
final=$(phase)
exit_code=$(field "{.status.containerStatuses[?(@.name==\"$CONTAINER\")].state.terminated.exitCode}")
term_reason=$(field "{.status.containerStatuses[?(@.name==\"$CONTAINER\")].state.terminated.reason}")
pod_reason=$(field '{.status.reason}')
case $exit_code in
  0) meaning=success ;; 10) meaning="agent failure" ;; 20) meaning="git failure" ;;
  30) meaning="configuration error" ;; 40) meaning="agent time limit exceeded" ;; 50) meaning="task budget exhausted" ;;
  137) meaning="killed (SIGKILL, often out of memory)" ;; 143) meaning="terminated (SIGTERM)" ;;
  "") meaning="no exit code" ;; *) meaning="exit code $exit_code" ;;
esac
note "pod $pod: $final${pod_reason:+ ($pod_reason)}, agent ${meaning}${term_reason:+ [$term_reason]}"
if [[ -n $exit_code ]]; then exit "$exit_code"; fi
[[ $final == Succeeded ]] || exit 1
