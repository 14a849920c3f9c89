#!/usr/bin/env bash
# Streams an agent pod's output: waits for the pod to start, follows its log until the container ends
# (reconnecting when the stream is cut while the pod still runs), then reports how the pod ended and
# exits with the agent's exit code. See scripts/README.md.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
CHART_NAME=agentic-sdlc-agent-runner
CONTAINER=agent

usage() {
  cat <<EOF
Usage: $(basename "$0") [options] POD_NAME|TASK_ID

Follows the log of an agent pod, given its name or a task id (then the newest pod of that task).
Exits with the agent container's exit code (0 success, 10 agent, 20 git, 30 config, 40 time limit).

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
$timestamps && log_args+=(--timestamps)
if ! $follow; then
  kubectl "${log_args[@]}"
  [[ $(phase) == Running ]] && exit 0
else
  since=""
  for ((attempt = 0; ; attempt++)); do
    if [[ -n $since ]]; then
      kubectl "${log_args[@]}" --follow --since-time="$since" || true
    else
      kubectl "${log_args[@]}" --follow || true
    fi
    # The kubelet reports the container's end a moment after its log closes: give it a few seconds.
    ended=false
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      if [[ $(phase) != Running || -n $(field "{.status.containerStatuses[?(@.name==\"$CONTAINER\")].state.terminated.exitCode}") ]]; then
        ended=true; break
      fi
      sleep 1
    done
    $ended && break
    ((attempt < 20)) || die "the log stream of $pod keeps breaking; giving up (the pod is still running)"
    since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    note "(log stream of $pod ended while it still runs; reconnecting)"
    sleep 1
  done
fi

# How it ended: the container's exit code is the agent's verdict (src/contract/agent-exit-codes.ts).
final=$(phase)
exit_code=$(field "{.status.containerStatuses[?(@.name==\"$CONTAINER\")].state.terminated.exitCode}")
term_reason=$(field "{.status.containerStatuses[?(@.name==\"$CONTAINER\")].state.terminated.reason}")
pod_reason=$(field '{.status.reason}')
case $exit_code in
  0) meaning=success ;; 10) meaning="agent failure" ;; 20) meaning="git failure" ;;
  30) meaning="configuration error" ;; 40) meaning="agent time limit exceeded" ;;
  137) meaning="killed (SIGKILL, often out of memory)" ;; 143) meaning="terminated (SIGTERM)" ;;
  "") meaning="no exit code" ;; *) meaning="exit code $exit_code" ;;
esac
note "pod $pod: $final${pod_reason:+ ($pod_reason)}, agent ${meaning}${term_reason:+ [$term_reason]}"
if [[ -n $exit_code ]]; then exit "$exit_code"; fi
[[ $final == Succeeded ]] || exit 1
