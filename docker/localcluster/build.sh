#!/usr/bin/env bash
# Builds the local control plane from upstream Go modules: kube-apiserver,
# kube-controller-manager, kube-scheduler and kubectl (k8s.io/kubernetes), etcd
# (go.etcd.io/etcd/server/v3) and kwok + kwokctl (sigs.k8s.io/kwok); with --node (or
# LOCAL_REAL_NODE=1) also the real worker node's kubelet and kube-proxy, from the same module
# at the same version, and CoreDNS (github.com/coredns/coredns) for the cluster's DNS.
#
# Why not `go install k8s.io/kubernetes/cmd/...@vX`: the kubernetes go.mod points every
# staging module at ./staging with replace lines and requires them at v0.0.0, which
# `go install` refuses. We build from a throwaway module of our own whose replace lines are
# derived from the release's go.mod, so a version bump never means editing a list by hand.
#
# Output: $LOCALCLUSTER_CACHE/<key>/bin, where <key> names every version. Each finished group
# (control plane, node) leaves a stamp file of its own, so running this again is a no-op and
# asking for the node later never rebuilds the control plane.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

cache_root=${LOCALCLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/k8s-sandbox/localcluster}
key="k8s-${KUBE_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}"
out="$cache_root/$key"
bin="$out/bin"

if [ "${1:-}" = "--print-bin" ]; then
  echo "$bin"
  exit 0
fi

with_node=0
case "${LOCAL_REAL_NODE:-0}" in 1|true|yes|on) with_node=1 ;; esac
[ "${1:-}" = "--node" ] && with_node=1
node_done() { [ "$with_node" = 0 ] || [ -f "$out/.complete-node" ]; }
# CoreDNS is not part of the cache key: its stamp holds its version, so a bump rebuilds it alone.
coredns_done() { [ "$with_node" = 0 ] || [ "$(cat "$out/.complete-coredns" 2>/dev/null)" = "$COREDNS_VERSION" ]; }

if [ -f "$out/.complete" ] && node_done && coredns_done; then
  echo "localcluster: binaries already built in $bin"
  exit 0
fi

command -v go >/dev/null || { echo "localcluster: Go is required (see README)" >&2; exit 1; }
mkdir -p "$bin" "$out/src"
export CGO_ENABLED=0 GOFLAGS="-mod=mod -trimpath" GOTOOLCHAIN=local
start=$(date +%s)
step() { echo "localcluster: [$(( $(date +%s) - start ))s] $*"; }

# --- Kubernetes --------------------------------------------------------------------------
build_kubernetes() {
  local src="$out/src/kubernetes" minor major cmds=("$@")
  major=${KUBE_VERSION#v}; major=${major%%.*}
  minor=${KUBE_VERSION#v*.}; minor=${minor%%.*}
  rm -rf "$src"; mkdir -p "$src"; cd "$src"
  go mod init localcluster/kubernetes >/dev/null 2>&1
  step "reading k8s.io/kubernetes@$KUBE_VERSION go.mod"
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  # Every staging module is required at v0.0.0 upstream; publish it at v0.<minor>.<patch>.
  local staging_version="v0.${KUBE_VERSION#v*.}"
  local edits=("-require=k8s.io/kubernetes@$KUBE_VERSION" "-godebug=default=go1.24")
  local mod
  while read -r mod; do
    edits+=("-replace=$mod=$mod@$staging_version")
  done < <(go mod edit -json "$gomod" | python3 -c '
import json, sys
for req in json.load(sys.stdin)["Require"]:
    if req["Version"] == "v0.0.0" and req["Path"].startswith("k8s.io/"):
        print(req["Path"])')
  step "$(( ${#edits[@]} - 2 )) staging modules replaced at $staging_version"
  go mod edit "${edits[@]}"
  # Upstream's go.mod pins exact dependency versions; copy them so the build matches a release build.
  go mod edit -json "$gomod" | python3 -c '
import json, sys
for req in json.load(sys.stdin)["Require"]:
    if req["Version"] != "v0.0.0":
        print("-require=%s@%s" % (req["Path"], req["Version"]))' | xargs go mod edit
  local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION \
-X k8s.io/component-base/version.gitMajor=$major -X k8s.io/component-base/version.gitMinor=$minor \
-X k8s.io/component-base/version.gitTreeState=clean \
-X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION \
-X k8s.io/client-go/pkg/version.gitMajor=$major -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  local cmd
  for cmd in "${cmds[@]}"; do
    step "building $cmd $KUBE_VERSION"
    go build -ldflags "$ldflags" -o "$bin/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
    mv "$bin/$cmd.tmp" "$bin/$cmd"
  done
}

# --- etcd ------------------------------------------------------------------------------------
build_etcd() {
  local src="$out/src/etcd"
  rm -rf "$src"; mkdir -p "$src"; cd "$src"
  go mod init localcluster/etcd >/dev/null 2>&1
  go mod edit "-require=go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  step "building etcd $ETCD_VERSION"
  go build -ldflags "-s -w" -o "$bin/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$bin/etcd.tmp" "$bin/etcd"
}

# --- kwok --------------------------------------------------------------------------------------
build_kwok() {
  local cmd
  for cmd in kwok kwokctl; do
    step "building $cmd $KWOK_VERSION"
    GOBIN="$bin" GOFLAGS=-trimpath go install -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}" \
      "sigs.k8s.io/kwok/cmd/$cmd@$KWOK_VERSION"
  done
}

# --- CoreDNS ---------------------------------------------------------------------------------
# Its go.mod has no replace lines, so a plain `go install` of the module's main package works.
build_coredns() {
  step "building coredns $COREDNS_VERSION"
  rm -f "$bin/coredns"
  GOBIN="$out/src/coredns" GOFLAGS=-trimpath go install \
    -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" \
    "github.com/coredns/coredns@$COREDNS_VERSION"
  mv "$out/src/coredns/coredns" "$bin/coredns"
}

want() { [ ! -x "$bin/$1" ]; }
# One throwaway module serves both groups: build every missing Kubernetes binary in one pass.
kube=()
if [ ! -f "$out/.complete" ]; then
  if want kwok || want kwokctl; then build_kwok; fi
  if want etcd; then build_etcd; fi
  for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do want "$cmd" && kube+=("$cmd"); done
fi
if ! node_done; then
  for cmd in kubelet kube-proxy; do want "$cmd" && kube+=("$cmd"); done
fi
if [ ${#kube[@]} -gt 0 ]; then build_kubernetes "${kube[@]}"; fi
if ! coredns_done; then build_coredns; fi

rm -rf "$out/src"
touch "$out/.complete"
if [ "$with_node" = 1 ]; then
  touch "$out/.complete-node"
  echo "$COREDNS_VERSION" >"$out/.complete-coredns"
fi
step "done; binaries in $bin ($(du -sh "$bin" | cut -f1))"
