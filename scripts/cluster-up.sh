#!/usr/bin/env bash
# `npm run cluster:up`: etcd + kube-apiserver + the test kubelet for manual use and the demo; prints
# `export KUBECONFIG=…` and stays up until Ctrl-C. Test support: compiled on its own, never part of
# the product build (tsconfig.build.json) or the worker image. Run `npm run setup` first.
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p test/support/cluster/tsconfig.cluster-up.json
exec node dist/support-build/test/support/cluster/cluster-up.js "$@"
