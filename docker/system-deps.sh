#!/usr/bin/env bash
# Installs the system packages that `make run` and `make test` need, if they are missing.
# Debian/Ubuntu only (apt-get); everything else comes from PyPI, npm or the Go module proxy.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have redis-server || need+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
have msgfmt || need+=(gettext)
have npm || need+=(nodejs npm)
[ "${WITH_BROWSER:-0}" = 1 ] && { have chromium || need+=(chromium); }
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
# The terminal's launcher is a small C program, linked statically (libc.a is in libc6-dev).
have gcc || need+=(gcc)
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || compgen -G "/usr/lib/*/libc.a" >/dev/null || need+=(libc6-dev)
# The local cluster's real worker node: a container runtime and Pod networking. Wanted unless
# CLUSTER=local-sim (or kind) or LOCAL_REAL_NODE=off; with "auto" (the default) only where it can
# run at all (root, or sudo without a password): elsewhere `make cluster` says what is missing
# and starts the simulated nodes.
images=${WITH_IMAGES:-0}
node=${LOCAL_REAL_NODE:-auto}
[ "${CLUSTER:-local}" = local ] || node=off
if [ "$node" = auto ] && [ "$(id -u)" != 0 ] && ! sudo -n true 2>/dev/null; then node=off; fi
case "$node" in
  0|false|no|off) ;;
  *)
    images=1
    have containerd || need+=(containerd)
    have runc || need+=(runc)
    [ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
    have iptables || need+=(iptables)
    # kube-router's NetworkPolicy controller keeps each policy's peers in ip sets.
    have ipset || need+=(ipset)
    ;;
esac
# What the local images are made of: Debian's static busybox, and a real MySQL-protocol server
# and client (docker/images/mysql/README.md). For the node, and for `make test`, whose image
# tests build and run them. The -core packages install no service that would start here.
if [ "$images" = 1 ]; then
  dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "ok installed" || need+=(busybox-static)
  have mariadbd || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server-core)
  have mariadb || need+=(mariadb-client-core)
fi

if [ ${#need[@]} -gt 0 ]; then
  echo "system-deps: installing ${need[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Go builds the local control plane (k8s 1.34 needs Go >= 1.24, kwok v0.8.0 needs Go >= 1.26).
if ! have go; then
  echo "system-deps: Go 1.26 or newer is required to build the local cluster; install it and retry." >&2
  exit 1
fi
gov=$(go env GOVERSION | sed 's/^go//')
if [ "$(printf '%s\n' 1.26 "$gov" | sort -V | head -1)" != 1.26 ]; then
  echo "system-deps: Go $gov is too old; Go 1.26 or newer is required (kwok v0.8.0)." >&2
  exit 1
fi
