#!/usr/bin/env bash
# Builds a real Vault server from the Go module proxy into bin/vault.
# Release binaries cannot be downloaded on our machines, so we compile it.
# VAULT_VERSION picks another version (default: the one in scripts/vault/go.mod).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mod="$root/scripts/vault"
out="$root/bin/vault"
want=${VAULT_VERSION:-$(awk '/^require github.com\/hashicorp\/vault /{print $3}' "$mod/go.mod")}

if [ -x "$out" ] && "$out" version 2>/dev/null | grep -q "Vault ${want}"; then
  echo "build-vault: $out is already Vault $want"
  exit 0
fi

work="$mod"
if [ "$want" != "$(awk '/^require github.com\/hashicorp\/vault /{print $3}' "$mod/go.mod")" ]; then
  # Another version: build it in a scratch copy so the committed go.sum stays as is.
  work=$(mktemp -d)
  cp "$mod/go.mod" "$mod/tools.go" "$work/"
  sed -i "s#^require github.com/hashicorp/vault .*#require github.com/hashicorp/vault $want#" "$work/go.mod"
  rm -f "$work/go.sum"
fi
cd "$work"
export GOFLAGS=-mod=mod
start=$(date +%s)
echo "build-vault: Vault $want: downloading modules (about 4-5 GB the first time; later runs reuse the cache)"
if [ ! -s go.sum ] || ! go list -m github.com/hashicorp/vault >/dev/null 2>&1; then
  go mod tidy -e 2>&1 | grep -v '^go: finding\|^go: downloading' | tail -5 || true
fi
go mod download -x 2>&1 | awk -v s="$start" '/^# get .*200 OK/{n++; if (n%200==0) {printf "build-vault: %d modules fetched (%ds)\n", n, systime()-s; fflush()}}' || true
echo "build-vault: compiling Vault $want (7-15 minutes on 2 cores the first time)"
mkdir -p "$root/bin"
( while sleep 60; do echo "build-vault: still compiling ($(( $(date +%s) - start ))s)"; done ) &
ticker=$!
trap 'kill $ticker 2>/dev/null || true' EXIT
go build -ldflags "-X github.com/hashicorp/vault/version.Version=${want#v} -X github.com/hashicorp/vault/version.VersionPrerelease=" -o "$out.tmp" github.com/hashicorp/vault
mv "$out.tmp" "$out"
echo "build-vault: built $("$out" version) in $(( $(date +%s) - start ))s"
