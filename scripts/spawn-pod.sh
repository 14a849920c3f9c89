#!/usr/bin/env bash
# Spawns one run-to-completion agent pod for a task, from the chart's agent pod template: the same
# template the worker uses (the installed release's ConfigMap, or `helm template` of the chart), with
# the per-task fields filled in by kubectl (a real YAML tool, never sed on YAML). Prints how to
# follow the pod. See scripts/README.md.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
CHART_NAME=agentic-sdlc-agent-runner

usage() {
  cat <<EOF
Usage: $(basename "$0") [options] [TASK_ID [BRANCH [REPO [CONTEXT_DIR]]]]

Creates an agent pod for one task from the release's pod template and prints how to follow it.

Task (options win over positional arguments):
  --task-id ID          task id from tasks.md, e.g. T012                       (required)
  --branch NAME         branch the agent pushes its work to                     (required)
  --repo URL            git remote to clone                                     (required)
  --context-dir DIR     feature directory inside the repo, e.g. specs/001-login
  --base-branch NAME    branch to start from (default: main)
  --task-text TEXT      the task's text for the agent (default: "Task <ID>")
  --model ID            OpenCode model id, provider/model
  --timeout-minutes N   agent time limit (default: 60); the pod deadline adds 5 minutes
  --push-partial        push partial work when the agent fails

Where:
  --environment ENV     dev, stg or prod: release agentic-sdlc-agent-runner-ENV in namespace agent-runner-ENV
  --namespace NS        namespace the release is installed in (env NAMESPACE)
  --release NAME        Helm release name (env RELEASE_NAME)
  --agent-namespace NS  namespace for the pod (default: the one the release's template names)
  --ssh-secret NAME     use SSH git auth from this Secret (keys ssh-privatekey, known_hosts) (env SSH_SECRET_NAME)
  --source SRC          where the template comes from: release (the installed ConfigMap), chart
                        (helm template of releases/CHART-ENV or charts/CHART), or auto (default:
                        release if installed, else chart)

Output:
  --dry-run             print the pod manifest instead of creating it
  --follow              follow the pod's logs after creating it (scripts/tail-logs.sh)
  -h, --help            this help

Environment: NAMESPACE, RELEASE_NAME, ENVIRONMENT, SSH_SECRET_NAME, KUBECONFIG, KUBECTL, HELM.
EOF
}

die() { printf 'spawn-pod.sh: %s\n' "$*" >&2; exit 2; }
note() { printf '%s\n' "$*" >&2; }

find_tool() {
  # $1: tool name, $2: explicit override (may be empty). Prints the path or fails with how to get it.
  local name=$1 override=$2
  if [[ -n $override ]]; then
    command -v "$override" >/dev/null 2>&1 || die "$name: '$override' (from \$${name^^}) is not executable"
    command -v "$override"; return
  fi
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
  if [[ -x "$ROOT/.tools/bin/$name" ]]; then printf '%s\n' "$ROOT/.tools/bin/$name"; return; fi
  die "$name is required but was not found on PATH or in .tools/bin (run: bash scripts/setup.sh)"
}

need_value() { [[ $# -ge 2 && -n $2 ]] || die "option $1 needs a value (see --help)"; }

task_id="" branch="" repo="" context_dir="" base_branch=main task_text="" model="" timeout_minutes=60
push_partial=false dry_run=false follow=false source=auto agent_namespace=""
environment=${ENVIRONMENT:-} namespace=${NAMESPACE:-} release=${RELEASE_NAME:-} ssh_secret=${SSH_SECRET_NAME:-}
positional=()

while [[ $# -gt 0 ]]; do
  case $1 in
    --task-id) need_value "$@"; task_id=$2; shift 2 ;;
    --branch) need_value "$@"; branch=$2; shift 2 ;;
    --repo) need_value "$@"; repo=$2; shift 2 ;;
    --context-dir) need_value "$@"; context_dir=$2; shift 2 ;;
    --base-branch) need_value "$@"; base_branch=$2; shift 2 ;;
    --task-text) need_value "$@"; task_text=$2; shift 2 ;;
    --model) need_value "$@"; model=$2; shift 2 ;;
    --timeout-minutes) need_value "$@"; timeout_minutes=$2; shift 2 ;;
    --push-partial) push_partial=true; shift ;;
    --environment) need_value "$@"; environment=$2; shift 2 ;;
    --namespace) need_value "$@"; namespace=$2; shift 2 ;;
    --release) need_value "$@"; release=$2; shift 2 ;;
    --agent-namespace) need_value "$@"; agent_namespace=$2; shift 2 ;;
    --ssh-secret) need_value "$@"; ssh_secret=$2; shift 2 ;;
    --source) need_value "$@"; source=$2; shift 2 ;;
    --dry-run) dry_run=true; shift ;;
    --follow) follow=true; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; positional+=("$@"); break ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) positional+=("$1"); shift ;;
  esac
done

[[ ${#positional[@]} -le 4 ]] || die "too many arguments: expected at most TASK_ID BRANCH REPO CONTEXT_DIR"
[[ -n $task_id ]] || task_id=${positional[0]:-}
[[ -n $branch ]] || branch=${positional[1]:-}
[[ -n $repo ]] || repo=${positional[2]:-}
[[ -n $context_dir ]] || context_dir=${positional[3]:-}

missing=()
[[ -n $task_id ]] || missing+=("--task-id")
[[ -n $branch ]] || missing+=("--branch")
[[ -n $repo ]] || missing+=("--repo")
[[ ${#missing[@]} -eq 0 ]] || die "missing ${missing[*]} (see --help)"
[[ $timeout_minutes =~ ^[1-9][0-9]*$ ]] || die "--timeout-minutes must be a positive whole number, got '$timeout_minutes'"
case $source in auto|release|chart) ;; *) die "--source must be auto, release or chart, got '$source'" ;; esac
if [[ -n $environment ]]; then
  [[ $environment =~ ^(dev|stg|prod)$ ]] || die "--environment must be dev, stg or prod, got '$environment'"
  release=${release:-$CHART_NAME-$environment}
  namespace=${namespace:-agent-runner-$environment}
fi
if [[ -n $ssh_secret && ! $ssh_secret =~ ^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$ ]]; then
  die "--ssh-secret must be a Secret name (lowercase DNS name), got '$ssh_secret'"
fi

KUBECTL_BIN=$(find_tool kubectl "${KUBECTL:-}")
kubectl() { "$KUBECTL_BIN" "$@"; }
# Local YAML edits: kubectl parses and rewrites the manifest itself; no cluster is contacted.
local_edit() { kubectl "$@" --local -f - -o yaml; }

lowercase_slug() { tr '[:upper:]' '[:lower:]' <<<"$1" | sed -E 's/[^a-z0-9-]+/-/g; s/-+/-/g; s/^-//; s/-$//'; }
label_value() { sed -E 's/[^A-Za-z0-9_.-]+/-/g' <<<"$1" | cut -c1-63 | sed -E 's/^[^A-Za-z0-9]+//; s/[^A-Za-z0-9]+$//'; }

template_from_release() {
  # Prints the pod template of the installed release, or nothing when no such release is installed.
  local ns_args=() selector="app.kubernetes.io/component=pod-template,app.kubernetes.io/part-of=agentic-sdlc-runner"
  [[ -n $namespace ]] && ns_args=(--namespace "$namespace")
  [[ -n $release ]] && selector+=",app.kubernetes.io/instance=$release"
  local names
  local errors
  errors=$(mktemp)
  if ! names=$(kubectl get configmap "${ns_args[@]}" -l "$selector" -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' 2>"$errors"); then
    [[ $source == release ]] && die "cannot read ConfigMaps${namespace:+ in namespace $namespace}: $(tail -n 1 "$errors")"
    note "Cannot read the installed release ($(tail -n 1 "$errors"))."
    rm -f "$errors"
    return 0
  fi
  rm -f "$errors"
  local count
  count=$(grep -c . <<<"$names" || true)
  [[ $count -le 1 ]] || die "found $count agent runner releases${namespace:+ in $namespace}; pick one with --release or RELEASE_NAME"
  [[ $count -eq 1 ]] || return 0
  kubectl get configmap "${ns_args[@]}" "$names" -o jsonpath='{.data.pod-template\.yaml}'
}

template_from_chart() {
  local helm_bin work chart_dir show_only values_dir
  helm_bin=$(find_tool helm "${HELM:-}")
  work=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: the temp dir is fixed
  trap "rm -rf '$work'" EXIT
  if [[ -n $environment ]]; then
    # The release chart depends on ../../charts/CHART via file://; build it in a scratch copy so the
    # checkout stays clean (what Argo CD does in its own checkout).
    mkdir -p "$work/charts" "$work/releases"
    cp -R "$ROOT/charts/$CHART_NAME" "$work/charts/"
    values_dir="$ROOT/releases/$CHART_NAME-$environment"
    [[ -d $values_dir ]] || die "no release directory $values_dir"
    cp -R "$values_dir" "$work/releases/"
    chart_dir="$work/releases/$CHART_NAME-$environment"
    "$helm_bin" dependency build "$chart_dir" >/dev/null || die "helm dependency build failed for $values_dir"
    show_only="charts/$CHART_NAME/templates/pod-template.yaml"
  else
    chart_dir="$ROOT/charts/$CHART_NAME"
    show_only="templates/pod-template.yaml"
  fi
  local rendered
  rendered=$("$helm_bin" template "${release:-$CHART_NAME}" "$chart_dir" --namespace "${namespace:-default}" --show-only "$show_only") \
    || die "helm template failed for $chart_dir"
  kubectl patch --local -f - --type merge -p '{}' -o jsonpath='{.data.pod-template\.yaml}' <<<"$rendered"
}

template=""
if [[ $source != chart ]]; then
  template=$(template_from_release)
  if [[ -z $template ]]; then
    [[ $source == release ]] && die "no installed release${release:+ named $release}${namespace:+ in namespace $namespace} has an agent pod template (use --source chart to render it from the chart)"
    note "No installed release found${namespace:+ in namespace $namespace}; rendering the pod template from the chart."
  fi
fi
if [[ -z $template ]]; then
  template=$(template_from_chart)
fi
[[ -n $template ]] || die "the pod template is empty"

task_slug=$(lowercase_slug "$task_id")
[[ -n $task_slug ]] || die "--task-id '$task_id' has no letters or digits"
stamp=$(date -u +%Y%m%d%H%M%S)
random=$(LC_ALL=C tr -dc 'a-z0-9' </dev/urandom | head -c 5 || true)
pod_name="sdlc-manual-${task_slug:0:30}-$random"
pod_name=${pod_name//--/-}
run_id="manual-$stamp-$random"
deadline_seconds=$(( (timeout_minutes + 5) * 60 ))
template_namespace=$(kubectl patch --local -f - --type merge -p '{}' -o jsonpath='{.metadata.namespace}' <<<"$template")
pod_namespace=${agent_namespace:-${template_namespace:-${namespace:-default}}}

# Identity and deadline: the values are validated above (DNS names and integers), so plain JSON is safe.
patch=$(printf '{"metadata":{"name":"%s","namespace":"%s"},"spec":{"activeDeadlineSeconds":%d,"restartPolicy":"Never","automountServiceAccountToken":false}}' \
  "$pod_name" "$pod_namespace" "$deadline_seconds")
env_args=(
  "SDLC_REPO_URL=$repo"
  "SDLC_BASE_BRANCH=$base_branch"
  "SDLC_TASK_BRANCH=$branch"
  "SDLC_TASK_ID=$task_id"
  "SDLC_TASK_TEXT=${task_text:-Task $task_id}"
  "SDLC_TIME_LIMIT_SECONDS=$((timeout_minutes * 60))"
  "SDLC_RUN_ID=$run_id"
  "SDLC_ATTEMPT=1"
  "SDLC_PUSH_PARTIAL=$push_partial"
)
[[ -n $context_dir ]] && env_args+=("SDLC_FEATURE_DIR=$context_dir")
[[ -n $model ]] && env_args+=("SDLC_MODEL=$model")

manifest=$(local_edit patch --type merge -p "$patch" <<<"$template" \
  | local_edit label --overwrite \
      "sdlc-runner.dev/run=$(label_value "$run_id")" \
      "sdlc-runner.dev/task=$(label_value "$task_id")" \
      "sdlc-runner.dev/attempt=1" \
  | local_edit annotate --overwrite "sdlc-runner.dev/spawned-by=scripts/spawn-pod.sh" \
  | local_edit set env --containers='*' "${env_args[@]}")

if [[ -n $ssh_secret ]]; then
  ssh_volume=$(printf '{"spec":{"volumes":[{"name":"git-credentials","secret":{"secretName":"%s","items":[{"key":"ssh-privatekey","path":"ssh-privatekey"},{"key":"known_hosts","path":"known_hosts"}]}}]}}' "$ssh_secret")
  ssh_env=(SDLC_GIT_TOKEN_FILE- SDLC_GIT_USERNAME-
    "SDLC_GIT_SSH_KEY_FILE=/var/run/secrets/sdlc-git/ssh-privatekey"
    "SDLC_GIT_KNOWN_HOSTS_FILE=/var/run/secrets/sdlc-git/known_hosts")
  # Only the phases that hold the credential (checkout, publish) get it.
  manifest=$(local_edit patch --type strategic -p "$ssh_volume" <<<"$manifest" \
    | local_edit set env --containers=checkout "${ssh_env[@]}" \
    | local_edit set env --containers=publish "${ssh_env[@]}")
fi

if $dry_run; then
  printf '%s\n' "$manifest"
  exit 0
fi

kubectl create -f - <<<"$manifest" >/dev/null || die "the apiserver refused pod $pod_name in namespace $pod_namespace (see the message above)"
printf '%s\n' "$pod_name"
note "pod/$pod_name created in namespace $pod_namespace (task $task_id, branch $branch)."
note "Follow it:"
note "  $SCRIPT_DIR/tail-logs.sh --agent-namespace $pod_namespace $pod_name"
note "  kubectl -n $pod_namespace logs -f $pod_name -c agent"
note "Delete it:"
note "  kubectl -n $pod_namespace delete pod $pod_name"
if $follow; then
  exec "$SCRIPT_DIR/tail-logs.sh" --agent-namespace "$pod_namespace" "$pod_name"
fi
