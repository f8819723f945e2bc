#!/usr/bin/env bash
# Builds the local control plane from upstream Go modules: kube-apiserver,
# kube-controller-manager, kube-scheduler and kubectl (k8s.io/kubernetes), etcd
# (go.etcd.io/etcd/server/v3) and kwok + kwokctl (sigs.k8s.io/kwok); and, unless --no-node (or
# CLUSTER=local-sim, LOCAL_REAL_NODE=off), the real worker node's kubelet and kube-proxy from
# the same module at the same version, CoreDNS (github.com/coredns/coredns) for its DNS and
# kube-router (github.com/cloudnativelabs/kube-router) for its NetworkPolicy.
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

# The node's programs too unless told otherwise (`manage.py cluster up` always says which).
with_node=1
case "${LOCAL_REAL_NODE:-auto}" in 0|false|no|off) with_node=0 ;; esac
[ "${CLUSTER:-local}" = local ] || with_node=0
case "${1:-}" in --node) with_node=1 ;; --no-node) with_node=0 ;; esac
node_done() { [ "$with_node" = 0 ] || [ -f "$out/.complete-node" ]; }
# The CoreDNS plugins the cluster's Corefile uses (docker/localcluster/coredns.yaml); see build_coredns.
COREDNS_PLUGINS=(errors health ready kubernetes forward cache loop reload loadbalance)
# CoreDNS is not part of the cache key: its stamp holds its version and plugins, so a change
# rebuilds it alone.
coredns_stamp="$COREDNS_VERSION ${COREDNS_PLUGINS[*]}"
coredns_done() { [ "$with_node" = 0 ] || [ "$(cat "$out/.complete-coredns" 2>/dev/null)" = "$coredns_stamp" ]; }
router_done() { [ "$with_node" = 0 ] || [ "$(cat "$out/.complete-kube-router" 2>/dev/null)" = "$KUBE_ROUTER_VERSION" ]; }

if [ -f "$out/.complete" ] && node_done && coredns_done && router_done; then
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
  # One `go build` for every command: the packages they share compile once, and the compiler
  # and the linker keep both cores busy across commands instead of one command at a time.
  local cmd pkgs=() stage="$out/src/stage"
  for cmd in "${cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$cmd"); done
  step "building ${cmds[*]} $KUBE_VERSION"
  mkdir -p "$stage"
  go build -ldflags "$ldflags" -o "$stage/" "${pkgs[@]}"
  for cmd in "${cmds[@]}"; do mv "$stage/$cmd" "$bin/$cmd"; done
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
# Not the module's own main package, which links every plugin CoreDNS ships (cloud DNS
# providers and their SDKs included): a main of our own links only the plugins the cluster's
# Corefile uses (docker/localcluster/coredns.yaml), so a cold build downloads and compiles a
# fraction of it. The plugins' order stays CoreDNS's own (dnsserver.Directives).
build_coredns() {
  local src="$out/src/coredns" plugin
  rm -rf "$src"; mkdir -p "$src"; cd "$src"
  go mod init localcluster/coredns >/dev/null 2>&1
  go mod edit "-require=github.com/coredns/coredns@$COREDNS_VERSION"
  {
    echo "package main"
    echo "import ("
    echo '  "github.com/coredns/coredns/coremain"'
    for plugin in "${COREDNS_PLUGINS[@]}"; do echo "  _ \"github.com/coredns/coredns/plugin/$plugin\""; done
    echo ")"
    echo "func main() { coremain.Run() }"
  } >main.go
  step "building coredns $COREDNS_VERSION (plugins: ${COREDNS_PLUGINS[*]})"
  go build -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" -o "$bin/coredns.tmp" .
  mv "$bin/coredns.tmp" "$bin/coredns"
}

# --- kube-router --------------------------------------------------------------------------------
# Its own module at its own pinned dependencies (client-go included): only the firewall runs
# (--run-router=false --run-service-proxy=false), enforcing NetworkPolicy with iptables and ip
# sets, which this kernel has (kube-network-policies needs nft's queue, which it lacks).
build_kube_router() {
  local src="$out/src/kube-router"
  rm -rf "$src"; mkdir -p "$src"; cd "$src"
  go mod init localcluster/kube-router >/dev/null 2>&1
  go mod edit "-require=github.com/cloudnativelabs/kube-router/v2@$KUBE_ROUTER_VERSION"
  step "building kube-router $KUBE_ROUTER_VERSION"
  go build -ldflags "-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION" \
    -o "$bin/kube-router.tmp" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
  mv "$bin/kube-router.tmp" "$bin/kube-router"
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
if ! router_done; then build_kube_router; fi

rm -rf "$out/src"
touch "$out/.complete"
if [ "$with_node" = 1 ]; then
  touch "$out/.complete-node"
  echo "$coredns_stamp" >"$out/.complete-coredns"
  echo "$KUBE_ROUTER_VERSION" >"$out/.complete-kube-router"
fi
step "done; binaries in $bin ($(du -sh "$bin" | cut -f1))"
