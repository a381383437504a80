#!/bin/sh
# Regenerate abi/abi-facts.json from the Xen public headers of Debian's libxen-dev
# (/usr/include/xen): compile abi-facts.c and run it.
#   sh abi/regenerate.sh           rewrite abi/abi-facts.json
#   sh abi/regenerate.sh --check   regenerate into a temporary file and fail if it differs
# Needs a C compiler and libxen-dev (apt-get install libxen-dev). The output depends on the
# architecture it runs on; the committed JSON was generated on x86_64.
set -eu

ABI_DIR=$(cd "$(dirname "$0")" && pwd)
OUT="$ABI_DIR/abi-facts.json"
CC="${CC:-cc}"

if [ ! -f /usr/include/xen/io/netif.h ]; then
  echo "regenerate: /usr/include/xen/io/netif.h not found; install libxen-dev (apt-get install libxen-dev)" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$CC" -Wall -Wextra -O0 "$ABI_DIR/abi-facts.c" -o "$tmp/abi-facts"
"$tmp/abi-facts" > "$tmp/abi-facts.json"

version=$(dpkg-query -W -f='${Version}' libxen-dev 2>/dev/null || echo unknown)
echo "regenerate: headers from libxen-dev $version on $(uname -m)"

if [ "${1:-}" = "--check" ]; then
  if cmp -s "$tmp/abi-facts.json" "$OUT"; then
    echo "regenerate: $OUT is up to date"
  else
    echo "regenerate: $OUT differs from what these headers give:" >&2
    diff -u "$OUT" "$tmp/abi-facts.json" | head -40 >&2 || true
    exit 1
  fi
else
  cp "$tmp/abi-facts.json" "$OUT"
  echo "regenerate: wrote $OUT"
fi
