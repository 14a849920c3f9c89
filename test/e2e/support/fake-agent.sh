#!/bin/sh
# Stand-in for the agent image in the whole-chain tests (the test kubelet maps the agent image to
# this file). It keeps the agent contract of docker/agent-entrypoint.sh in its simplest form: read the
# task from SDLC_* env, print progress lines, push one commit to the task branch, print the
# ::sdlc-result:: line, exit 0. Knobs (plain env from the pod template):
#   E2E_RECORD_DIR        append "<task> <pod>" to $E2E_RECORD_DIR/runs.log when the agent starts; the gateway
#                         appends "start <task> <pod> key|no-key" and "stop <task> <pod>" to gateway.log
#   E2E_STEP_SECONDS      sleep between the three progress lines (default 0)
#   E2E_PRESET_SHA        skip git: the test already created every task branch at this commit
#   E2E_HOLD_DIR          after the last progress line, wait while the file $E2E_HOLD_DIR/$SDLC_RUN_ID exists
#                         (a test holds one run's agents until it has seen what it waits for)
#   E2E_HOLD_TASKS        with E2E_HOLD_DIR: only these tasks hold (space-separated ids; default every task)
#   E2E_TICK_SECONDS      while held, print "tick <n>" every this many seconds (instead of waiting silently);
#                         once released print "released after <n> ticks" and append "<task> <n>" to
#                         $E2E_RECORD_DIR/ticks.log (so a test knows exactly how many lines the agent printed)
#   E2E_LINES             after the steps, print "line <i>/<n>" for i = 1..n, E2E_LINE_SECONDS apart (default 0.5)
#   E2E_ECHO_DIR          every line the agent prints (the result line too) is also appended to $E2E_ECHO_DIR/<pod>.out:
#                         what it printed, as a fact a test compares with what the runner followed
#   E2E_CHAT_SECONDS      chatty mode (npm run bench's log-heavy case; also with E2E_PRESET_SHA): for this many seconds
#                         print E2E_CHAT_LINES_PER_SECOND (default 20) lines "chat <s>.<i>" a second, in one burst a second
#   E2E_BENCH_RECORD      with E2E_RECORD_DIR: after the result line append "<task> <pod> <ms> <lines>" to
#                         $E2E_RECORD_DIR/bench.log — <ms> the epoch milliseconds just before the result line was printed,
#                         <lines> how many lines the agent printed (the result line included)
# When SDLC_GIT_TOKEN_FILE is set (the chart's pod template mounts the git credentials Secret there),
# the file must hold a token — otherwise exit 30, the contract's configuration error.
# In a pod of the three phases (the chart's template: docker/agent/README.md "Phases") it is started
# once per phase: checkout and agent have nothing to do here, publish does all of the above. The model
# gateway (a native sidecar, restartPolicy Always) stays up until the kubelet stops it with SIGTERM.
set -eu
printed=0
out() {
  printf '%s\n' "$1"
  printed=$((printed + 1))
  if [ -n "${E2E_ECHO_DIR:-}" ]; then printf '%s\n' "$1" >>"$E2E_ECHO_DIR/$HOSTNAME.out"; fi
}
say() { out "agent[$SDLC_TASK_ID]: $*"; }
case "${1:-}" in
  checkout | agent) exit 0 ;;
  gateway)
    key=no-key
    # A provider key file of SDLC_GATEWAY_PROVIDERS (the last keyFile; a relative one is in SDLC_GATEWAY_KEYS_DIR), if it is there.
    file=$(printf '%s' "${SDLC_GATEWAY_PROVIDERS:-}" | sed -n 's/.*"keyFile":"\([^"]*\)".*/\1/p')
    case "$file" in "" | /*) ;; *) file="${SDLC_GATEWAY_KEYS_DIR:-/var/run/secrets/sdlc-llm}/$file" ;; esac
    if [ -n "$file" ] && [ -s "$file" ]; then key=key; fi
    record() { if [ -n "${E2E_RECORD_DIR:-}" ]; then echo "$* ${SDLC_TASK_ID:-} $HOSTNAME" >>"$E2E_RECORD_DIR/gateway.log"; fi; }
    record start "$key"
    trap 'record stop; exit 0' TERM
    while :; do sleep 0.2; done ;;
esac

say "start: branch $SDLC_TASK_BRANCH from $SDLC_BASE_BRANCH, attempt $SDLC_ATTEMPT, pod $HOSTNAME"
if [ -n "${SDLC_GIT_TOKEN_FILE:-}" ] && [ ! -s "$SDLC_GIT_TOKEN_FILE" ]; then
  say "no git token in $SDLC_GIT_TOKEN_FILE"
  exit 30
fi
if [ -n "${E2E_RECORD_DIR:-}" ]; then echo "$SDLC_TASK_ID $HOSTNAME" >>"$E2E_RECORD_DIR/runs.log"; fi

if [ -n "${E2E_CHAT_SECONDS:-}" ]; then
  s=0
  while [ "$s" -lt "$E2E_CHAT_SECONDS" ]; do
    s=$((s + 1))
    i=0
    while [ "$i" -lt "${E2E_CHAT_LINES_PER_SECOND:-20}" ]; do
      i=$((i + 1))
      say "chat $s.$i"
    done
    sleep 1
  done
fi

if [ -n "${E2E_PRESET_SHA:-}" ]; then
  sha=$E2E_PRESET_SHA
else
  work=${SDLC_WORKDIR:-$PWD}/clone
  git clone -q --branch "$SDLC_BASE_BRANCH" -- "$SDLC_REPO_URL" "$work"
  cd "$work"
  git checkout -q -b "$SDLC_TASK_BRANCH"
  for step in 1 2 3; do
    say "working, step $step/3"
    sleep "${E2E_STEP_SECONDS:-0}"
  done
  i=0
  while [ "$i" -lt "${E2E_LINES:-0}" ]; do
    i=$((i + 1))
    say "line $i/$E2E_LINES"
    sleep "${E2E_LINE_SECONDS:-0.5}"
  done
  holds=${E2E_HOLD_DIR:-}
  case " ${E2E_HOLD_TASKS:-$SDLC_TASK_ID} " in *" $SDLC_TASK_ID "*) ;; *) holds= ;; esac
  if [ -n "$holds" ]; then
    ticks=0
    while [ -f "$E2E_HOLD_DIR/${SDLC_RUN_ID:-}" ]; do
      if [ -n "${E2E_TICK_SECONDS:-}" ]; then
        ticks=$((ticks + 1))
        say "tick $ticks"
        sleep "$E2E_TICK_SECONDS"
      else
        sleep 0.2
      fi
    done
    if [ -n "${E2E_TICK_SECONDS:-}" ]; then
      say "released after $ticks ticks"
      if [ -n "${E2E_RECORD_DIR:-}" ]; then echo "$SDLC_TASK_ID $ticks" >>"$E2E_RECORD_DIR/ticks.log"; fi
    fi
  fi
  printf '%s\n' "$SDLC_TASK_TEXT" >"task-$SDLC_TASK_ID.txt"
  git add -A
  git -c user.name=e2e-agent -c user.email=e2e-agent@example.invalid commit -q -m "$SDLC_TASK_ID: implement" -m "Sdlc-Run: $SDLC_RUN_ID"
  git push -q origin "HEAD:refs/heads/$SDLC_TASK_BRANCH"
  sha=$(git rev-parse HEAD)
fi

say "done at $sha"
if [ -n "${E2E_BENCH_RECORD:-}" ] && [ -n "${E2E_RECORD_DIR:-}" ]; then result_ms=$(date +%s%3N); fi
out "$(printf '::sdlc-result::{"v":1,"status":"succeeded","taskId":"%s","branch":"%s","sha":"%s","commits":1,"tokens":{"input":120,"output":30},"cost":0.0012}' \
  "$SDLC_TASK_ID" "$SDLC_TASK_BRANCH" "$sha")"
if [ -n "${E2E_BENCH_RECORD:-}" ] && [ -n "${E2E_RECORD_DIR:-}" ]; then echo "$SDLC_TASK_ID $HOSTNAME $result_ms $printed" >>"$E2E_RECORD_DIR/bench.log"; fi
