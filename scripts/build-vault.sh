#!/usr/bin/env bash
# Builds a real Vault server from the Go module proxy into bin/vault.
# Release binaries cannot be downloaded on our machines, so we compile it.
#
#   bash scripts/build-vault.sh                 # the version pinned in scripts/vault/go.mod
#   VAULT_VERSION=v1.21.4 bash scripts/build-vault.sh   # another one (built in a scratch copy)
#   bash scripts/build-vault.sh --dry-run       # only say what it would do
#
# A Vault already installed is used instead of building one: VAULT_BIN (a
# path or a command name), else the `vault` on PATH. It is used when it
# reports a supported version: the pinned major.minor or a later minor of the
# same major (pinned v1.21.0: v1.21.x, v1.22.x, ... but not v1.20.x, v2.x or
# a pre-release); with VAULT_VERSION set, exactly that version. bin/vault
# then becomes a symbolic link to it. A Vault that does not qualify is named
# with the reason, and Vault is built as below. VAULT_BUILD=1 always builds.
# VAULT_OUT (default bin/vault) is where the result goes (the tests use it).
#
# For another version the vault/sdk and vault/api versions come from that
# Vault's own go.mod; VAULT_SDK_VERSION / VAULT_API_VERSION override them when
# that combination does not compile.
#
# Nothing is done when bin/vault already reports the wanted version. The
# first build fetches about 4-5 GB of modules and compiles for 15-25 minutes on
# 2 cores; after that Go's module and build caches make a rebuild (a fresh
# clone, another version already built once) a matter of a minute or two.
set -euo pipefail

dry=
case "${1:-}" in
  "") ;;
  --dry-run) dry=1 ;;
  *) echo "usage: $0 [--dry-run]" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
mod="$root/scripts/vault"
out=${VAULT_OUT:-$root/bin/vault}

say() { printf 'build-vault: %s\n' "$*"; }
die() { printf 'build-vault: error: %s\n' "$*" >&2; exit 1; }

pinned=$(awk '$1 == "require" && $2 == "github.com/hashicorp/vault" { print $3 }' "$mod/go.mod")
[ -n "$pinned" ] || die "scripts/vault/go.mod does not require github.com/hashicorp/vault"
want=${VAULT_VERSION:-$pinned}
want=v${want#v}
# exact: only the very version asked for stands in for it (VAULT_VERSION set).
exact=${VAULT_VERSION:+1}

# version_of prints the version a Vault binary reports ("v1.21.0"), or nothing.
# The output is captured first: `vault version | grep -q` under pipefail can
# fail when grep exits before vault has written everything.
version_of() {
  local line
  line=$("$1" version 2>/dev/null | head -n 1) || true
  line=${line#Vault }
  line=${line%%[ ,]*}
  printf '%s' "$line"
}

semver_re='^v([0-9]+)\.([0-9]+)\.([0-9]+)(\+[0-9A-Za-z.-]+)?$'
# supported VERSION: whether a Vault reporting VERSION may stand in for the
# wanted one. Build metadata (v1.21.0+ent) is allowed, pre-releases are not.
supported() {
  local have=$1 hmaj hmin hcore
  [[ $have =~ $semver_re ]] || return 1
  hmaj=$((10#${BASH_REMATCH[1]})) hmin=$((10#${BASH_REMATCH[2]}))
  hcore="v${BASH_REMATCH[1]}.${BASH_REMATCH[2]}.${BASH_REMATCH[3]}"
  [[ $want =~ $semver_re ]] || return 1
  if [ -n "$exact" ]; then
    [ "$hcore" = "$want" ]
    return
  fi
  [ "$hmaj" -eq "$((10#${BASH_REMATCH[1]}))" ] && [ "$hmin" -ge "$((10#${BASH_REMATCH[2]}))" ]
}
if [ -n "$exact" ]; then
  wanted_desc="exactly $want (VAULT_VERSION)"
elif [[ $want =~ $semver_re ]]; then
  wanted_desc="v${BASH_REMATCH[1]}.${BASH_REMATCH[2]}.x or a later v${BASH_REMATCH[1]}.x"
else
  die "the wanted Vault version '$want' is not of the form v1.2.3"
fi

if [ -x "$out" ]; then
  have=$(version_of "$out")
  if [ "$have" = "$want" ]; then
    say "$out is already Vault $want"
    exit 0
  fi
  say "$out is Vault ${have:-of unknown version}, not $want"
fi

# An installed Vault: VAULT_BIN alone when set, else the vault on PATH, then
# what bin/vault already links to (a PATH in another shell may lack it).
out_abs="$(readlink -m "$(dirname "$out")")/$(basename "$out")"
labels=() paths=()
if [ "${VAULT_BUILD:-0}" != 0 ]; then
  say "VAULT_BUILD=$VAULT_BUILD: not looking for an installed Vault"
elif [ -n "${VAULT_BIN:-}" ]; then
  c=$(command -v -- "$VAULT_BIN" || true)
  if [ -n "$c" ]; then
    labels+=("VAULT_BIN=$VAULT_BIN") paths+=("$c")
  else
    say "VAULT_BIN=$VAULT_BIN: no such command or executable file: not used"
  fi
else
  c=$(command -v vault || true)
  [ -n "$c" ] && labels+=("the vault on PATH") paths+=("$c")
  [ -L "$out" ] && labels+=("what $(basename "$out") links to") paths+=("$out")
fi
use= seen=
for i in "${!paths[@]}"; do
  real=$(readlink -f "${paths[$i]}" || true)
  cand="${labels[$i]} (${real:-${paths[$i]}})"
  # Never bin/vault itself (a PATH that holds bin/, as `make dev` suggests,
  # finds it): that is the binary found wanting above.
  [ "$real" = "$out_abs" ] && continue
  [ "$real" = "$seen" ] && continue
  seen=$real
  if [ ! -f "$real" ] || [ ! -x "$real" ]; then
    say "$cand is not an executable file: not used"
    continue
  fi
  have=$(version_of "$real")
  if supported "$have"; then
    use=$real
    say "$cand is Vault $have: supported ($wanted_desc)"
    break
  fi
  say "$cand reports Vault '${have:-?}': not used (needs $wanted_desc)"
done

if [ -n "$use" ]; then
  if [ -n "$dry" ]; then
    say "dry run: would link $out to $use"
    exit 0
  fi
  mkdir -p "$(dirname "$out")"
  ln -sfn "$use" "$out.link.$$"
  mv -Tf "$out.link.$$" "$out"
  say "using $use as $out (VAULT_BUILD=1 builds Vault $want instead)"
  exit 0
fi
if [ -n "$dry" ]; then
  say "dry run: would build Vault $want into $out"
  exit 0
fi
say "building Vault $want into $out"

command -v go >/dev/null || die "go is not on PATH"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/build-vault.XXXXXX")
ticker=
cleanup() {
  [ -n "$ticker" ] && kill "$ticker" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

start=$(date +%s)
phase="$tmp/phase"
setphase() { printf '%s' "$*" >"$phase"; say "$*"; }
# Progress every minute whatever the phase, so nobody thinks it hung.
# (sleep's output goes nowhere: an orphaned sleep must not hold the
# caller's pipe open after the script ends.)
(
  while sleep 60 >/dev/null 2>&1; do
    say "still working: $(cat "$phase" 2>/dev/null) ($(( $(date +%s) - start ))s so far)"
  done
) &
ticker=$!

work="$mod"
if [ "$want" != "$pinned" ]; then
  # Another version: a scratch module, so the committed go.mod/go.sum stay
  # as they are. Its sdk and api versions and its own replaces come from
  # that Vault's go.mod (Vault points sdk and api at local folders, which a
  # dependency does not get).
  work="$tmp/mod"
  mkdir -p "$work"
  setphase "Vault $want: reading its go.mod"
  vmod=$(cd "$work" && go mod download -json "github.com/hashicorp/vault@$want" | awk -F'"' '$2 == "GoMod" { print $4 }') ||
    die "cannot fetch github.com/hashicorp/vault@$want from the module proxy"
  [ -f "$vmod" ] || die "no go.mod for github.com/hashicorp/vault@$want"
  sdk=${VAULT_SDK_VERSION:-$(awk '$1 == "github.com/hashicorp/vault/sdk" && $2 ~ /^v/ { print $2; exit }' "$vmod")}
  api=${VAULT_API_VERSION:-$(awk '$1 == "github.com/hashicorp/vault/api" && $2 ~ /^v/ { print $2; exit }' "$vmod")}
  if [ -z "$sdk" ] || [ -z "$api" ]; then die "cannot tell which vault/sdk and vault/api $want requires"; fi
  {
    echo "module github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/scripts/vault"
    echo
    awk '$1 == "go" { print; exit }' "$mod/go.mod"
    echo
    echo "require github.com/hashicorp/vault $want"
    echo
    echo "replace github.com/hashicorp/vault/sdk => github.com/hashicorp/vault/sdk $sdk"
    echo "replace github.com/hashicorp/vault/api => github.com/hashicorp/vault/api $api"
    # Vault's own replaces that point at other modules (not at ./ folders).
    awk '$1 == "replace" && $0 !~ /=> \.\// { print }' "$vmod"
  } >"$work/go.mod"
  cp "$mod/tools.go" "$work/"
  say "Vault $want: sdk $sdk, api $api"
fi
cd "$work"

avail=$(df -Pk "$(go env GOMODCACHE 2>/dev/null || echo "$HOME")" 2>/dev/null | awk 'NR == 2 { print int($4 / 1048576) }') || avail=
if [ -n "$avail" ] && [ "$avail" -lt 6 ]; then
  say "warning: only ${avail} GB free for the module cache; a first build needs about 5 GB"
fi

# go.sum: written once by `go mod tidy -e` (tests of Vault's dependencies
# import packages the pinned sdk lacks; -e lets tidy finish) and committed.
# -mod=mod lets the build add a line go.sum lacks instead of failing.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod"
if [ ! -s go.sum ]; then
  setphase "Vault $want: resolving modules (go mod tidy -e; about 4-5 GB of downloads the first time)"
  if ! go mod tidy -e >"$tmp/tidy.log" 2>&1; then
    tail -n 20 "$tmp/tidy.log" >&2
    die "go mod tidy failed for Vault $want (above: often a module the Go module proxy does not serve here)"
  fi
fi

setphase "Vault $want: downloading modules (later runs reuse the module cache)"
set +e
go mod download -x 2>&1 >/dev/null | awk -v s="$start" -v lf="$tmp/download.log" '
  { print > lf }
  /^# get .*: 200 OK/ { n++; if (n % 200 == 0) { printf "build-vault: %d modules fetched (%ds)\n", n, systime() - s; fflush() } }
  END { if (n > 0) printf "build-vault: %d modules fetched\n", n }'
dl=${PIPESTATUS[0]}
set -e
if [ "$dl" -ne 0 ]; then
  # Not fatal: a module only tests need may be missing; the build says if
  # something it needs is.
  say "warning: go mod download exited $dl; continuing (last lines below)"
  grep -v '^#' "$tmp/download.log" | tail -n 5 >&2 || true
fi

setphase "Vault $want: compiling (15-25 minutes on 2 cores the first time; under a minute from Go's build cache)"
mkdir -p "$(dirname "$out")"
bintmp=$(mktemp "$(dirname "$out")/.vault.XXXXXX")
# -s -w: no symbol table or DWARF: a third smaller and quicker to link (a
# rebuild from the build cache is mostly linking). The -X flags matter only
# for Vault versions whose version package is not embedded from a file.
set +e
go build -ldflags "-s -w -X github.com/hashicorp/vault/version.Version=${want#v} -X github.com/hashicorp/vault/version.VersionPrerelease=" \
  -o "$bintmp" github.com/hashicorp/vault 2>"$tmp/build.log"
rc=$?
set -e
if [ "$rc" -ne 0 ]; then
  rm -f "$bintmp"
  { grep -v '^go: downloading' "$tmp/build.log" || true; } | tail -n 30 >&2
  if grep -q -e 'verifying go.mod' -e 'not available' -e '404 Not Found' -e '410 Gone' "$tmp/build.log"; then
    die "Vault $want needs modules the Go module proxy does not serve here (above)"
  fi
  if [ "$want" != "$pinned" ]; then
    die "compiling Vault $want with vault/sdk $sdk and vault/api $api failed; Vault builds its own sdk and api folders, which need not match any tag: try another VAULT_SDK_VERSION / VAULT_API_VERSION (the pinned $pinned builds)"
  fi
  die "compiling Vault $want failed"
fi
have=$(version_of "$bintmp")
if [ "$have" != "$want" ]; then
  rm -f "$bintmp"
  die "the binary built reports Vault '${have}', not $want"
fi
mv -f "$bintmp" "$out"
say "built $("$out" version | head -n 1) into $out in $(( $(date +%s) - start ))s"
