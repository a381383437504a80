#!/bin/sh
# Install the real xenstore peers the conformance test drives (idempotent):
#  - xenstore-utils (xenstore-read/write/ls/list/rm/exists/chmod/watch), python3-pyxs, libxen-dev
#    (the runtime libs oxenstored needs) through apt-get, when missing (needs root);
#  - xen-utils-4.17 unpacked (not installed) into packages/xenstore/.peers/root for
#    test-xenstore and oxenstored;
#  - the LD_PRELOAD shim abi/xenfake-preload.c built into .peers/xenfake.so.
# Usage (from anywhere): sh packages/xenstore/scripts/install-peers.sh
set -eu

PKG_DIR=$(cd "$(dirname "$0")/.." && pwd)
REPO_ROOT=$(cd "$PKG_DIR/../.." && pwd)
PEERS="$PKG_DIR/.peers"
SHIM_SRC="${XENFAKE_SRC:-$REPO_ROOT/abi/xenfake-preload.c}"
XEN_UTILS="${XEN_UTILS_PKG:-xen-utils-4.17}"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    echo "install-peers: need root for: $*" >&2; return 1; fi
}

missing=""
for p in xenstore-utils python3-pyxs libxen-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "install-peers: installing$missing"
  as_root apt-get update
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
fi

mkdir -p "$PEERS"
OX_BIN="$PEERS/root/usr/lib/xen-4.17/bin"
if [ ! -x "$OX_BIN/oxenstored" ] || [ ! -x "$OX_BIN/test-xenstore" ]; then
  echo "install-peers: unpacking $XEN_UTILS into $PEERS/root"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # apt-get download writes into the current directory; the _apt user must be able to write it.
  chmod 777 "$tmp"
  if ! (cd "$tmp" && apt-get download "$XEN_UTILS"); then
    as_root apt-get update
    (cd "$tmp" && apt-get download "$XEN_UTILS")
  fi
  rm -rf "$PEERS/root"
  dpkg -x "$tmp"/"$XEN_UTILS"_*.deb "$PEERS/root"
fi

if [ ! -f "$PEERS/xenfake.so" ] || [ "$SHIM_SRC" -nt "$PEERS/xenfake.so" ]; then
  if [ ! -f "$SHIM_SRC" ]; then
    echo "install-peers: shim source $SHIM_SRC not found" >&2
    exit 1
  fi
  echo "install-peers: building $PEERS/xenfake.so"
  cc -shared -fPIC -O2 -o "$PEERS/xenfake.so" "$SHIM_SRC"
fi

echo "install-peers: ok ($(command -v xenstore-read), $OX_BIN/oxenstored, $OX_BIN/test-xenstore, $PEERS/xenfake.so)"
