#!/usr/bin/env bash
# Tests how scripts/build-vault.sh decides between an installed Vault and a
# build (make scripts-test, part of make test). It never builds Vault: every
# case runs with a `go` on PATH that records being called and fails, and the
# cases that would build run with --dry-run; the output goes to a temporary
# VAULT_OUT, never to bin/vault.
#
# Fake `vault` commands print what a real one prints for `vault version`.
# A real Vault is tried too when one is at hand: REAL_VAULT=/path/to/vault,
# else bin/vault when it is a built v1.21.0 binary (not a link); without one
# that case is reported as skipped.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
script="$root/scripts/build-vault.sh"
pinned=$(awk '$1 == "require" && $2 == "github.com/hashicorp/vault" { print $3 }' "$root/scripts/vault/go.mod")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-build-vault.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# A `go` that must never run.
mkdir -p "$tmp/nogo"
cat >"$tmp/nogo/go" <<EOF
#!/bin/sh
echo "go \$*" >>"$tmp/go-called"
echo "test: go was run: build-vault.sh tried to build" >&2
exit 97
EOF
chmod +x "$tmp/nogo/go"
# Only the tools the script uses: a vault installed on this machine must not
# take part.
mkdir -p "$tmp/tools"
for t in bash sh env awk sed grep head cut tr cat readlink dirname basename mkdir ln mv rm mktemp; do
  ln -s "$(command -v "$t")" "$tmp/tools/$t"
done
basepath="$tmp/nogo:$tmp/tools"

passed=0 failed=0
fail() {
  printf 'FAIL: %s: %s\n' "$name" "$*"
  printf '  output:\n%s\n' "$(sed 's/^/    /' "$tmp/out.txt")"
  failed=$((failed + 1))
}

# fake DIR LINE: a `vault` in DIR whose `vault version` prints LINE.
fake() {
  mkdir -p "$1"
  printf '#!/bin/sh\n[ "$1" = version ] || exit 2\necho %q\n' "$2" >"$1/vault"
  chmod +x "$1/vault"
}

# run NAME EXTRA_PATH [ENV=... ...] -- ARGS: runs build-vault.sh with
# VAULT_OUT in a fresh directory and EXTRA_PATH before the base PATH.
run() {
  name=$1 extra=$2
  shift 2
  local envs=()
  while [ "$#" -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
  [ "${1:-}" = -- ] && shift
  out="$tmp/case$((passed + failed))/bin/vault"
  rm -f "$tmp/go-called"
  set +e
  env -u VAULT_BIN -u VAULT_VERSION -u VAULT_BUILD PATH="${extra:+$extra:}$basepath" VAULT_OUT="$out" \
    "${envs[@]}" bash "$script" "$@" >"$tmp/out.txt" 2>&1
  rc=$?
  set -e
}
expect() { # expect REGEX: the output has a line matching REGEX
  grep -Eq -- "$1" "$tmp/out.txt" || { fail "no line matching /$1/"; return 1; }
}
ok() { # ok: exit 0, go never ran; then count the case
  if [ "$rc" -ne 0 ]; then fail "exit $rc"; return; fi
  if [ -e "$tmp/go-called" ]; then fail "go was run: $(cat "$tmp/go-called")"; return; fi
  passed=$((passed + 1))
}
builds() { # the decision was to build the wanted version
  expect "dry run: would build Vault ${1:-$pinned} into $out" && ok
}
uses() { # the decision was to use $1
  expect "dry run: would link $out to $(readlink -f "$1")" && ok
}

major=${pinned#v}
minor=${major#*.}
minor=${minor%%.*}
major=${major%%.*}
same="v$major.$minor.7"
newer="v$major.$((minor + 1)).0"
older="v$major.$((minor - 1)).9"
line() { printf 'Vault %s, built 2025-11-30T13:27:11Z (cgo)' "$1"; }

fake "$tmp/same" "$(line "$same")"
fake "$tmp/newer" "$(line "$newer+ent")"
fake "$tmp/older" "$(line "$older")"
fake "$tmp/nextmajor" "$(line "v$((major + 1)).0.0")"
fake "$tmp/pre" "$(line "$newer-rc1")"
fake "$tmp/pinned" "$(line "$pinned")"
fake "$tmp/garbage" "command not found"
mkdir -p "$tmp/broken"
printf '#!/bin/sh\nexit 1\n' >"$tmp/broken/vault"
chmod +x "$tmp/broken/vault"

run "no vault anywhere" "" -- --dry-run
builds

run "older minor on PATH" "$tmp/older" -- --dry-run
expect "the vault on PATH .* reports Vault '$older': not used" && builds

run "next major on PATH" "$tmp/nextmajor" -- --dry-run
expect "not used" && builds

run "pre-release on PATH" "$tmp/pre" -- --dry-run
expect "not used" && builds

run "garbage version output" "$tmp/garbage" -- --dry-run
expect "not used" && builds

run "vault that fails" "$tmp/broken" -- --dry-run
expect "reports Vault '\?': not used" && builds

run "same minor, later patch" "$tmp/same" -- --dry-run
uses "$tmp/same/vault"

run "later minor with build metadata" "$tmp/newer" -- --dry-run
uses "$tmp/newer/vault"

run "the pinned version" "$tmp/pinned" -- --dry-run
uses "$tmp/pinned/vault"

run "VAULT_BIN wins over PATH" "$tmp/older" "VAULT_BIN=$tmp/newer/vault" -- --dry-run
uses "$tmp/newer/vault"

run "VAULT_BIN refused: build, PATH not tried" "$tmp/same" "VAULT_BIN=$tmp/older/vault" -- --dry-run
expect "VAULT_BIN=.* reports Vault '$older': not used" && builds

run "VAULT_BIN missing" "$tmp/same" "VAULT_BIN=$tmp/nowhere/vault" -- --dry-run
expect "no such command" && builds

run "VAULT_BUILD=1 ignores PATH" "$tmp/same" VAULT_BUILD=1 -- --dry-run
builds

run "VAULT_VERSION wants exactly that" "$tmp/same" "VAULT_VERSION=$newer" -- --dry-run
expect "needs exactly $newer" && builds "$newer"

run "VAULT_VERSION found on PATH" "$tmp/newer" "VAULT_VERSION=$newer" -- --dry-run
uses "$tmp/newer/vault"

# bin/vault itself on PATH (make dev suggests PATH=bin:$PATH), built for
# another version: not linked to itself.
run "bin/vault on PATH is not a candidate" "" -- --dry-run
mkdir -p "$(dirname "$out")"
fake "$(dirname "$out")" "$(line "$same")"
run "bin/vault on PATH is not a candidate" "$(dirname "$out")" -- --dry-run
expect "is Vault $same, not $pinned" && builds

# An exact bin/vault (a built one) is kept, whatever is on PATH.
run "built bin/vault kept" "" -- --dry-run
mkdir -p "$(dirname "$out")"
fake "$(dirname "$out")" "$(line "$pinned")"
run "built bin/vault kept" "$tmp/newer" -- --dry-run
expect "is already Vault $pinned" && ok

# For real (no --dry-run): bin/vault becomes a link to the found Vault, and
# a second run keeps it, even with another PATH.
run "link made" "$tmp/newer"
if expect "using $tmp/newer/vault as $out"; then
  if [ "$(readlink "$out")" != "$tmp/newer/vault" ]; then
    fail "$out links to '$(readlink "$out")'"
  elif ! "$out" version | grep -q "$newer"; then
    fail "$out version: $("$out" version)"
  else
    ok
    keep=$out
    # The next run, with nothing on PATH: what bin/vault links to still qualifies.
    set +e
    env -u VAULT_BIN -u VAULT_VERSION -u VAULT_BUILD PATH="$basepath" VAULT_OUT="$keep" bash "$script" >"$tmp/out.txt" 2>&1
    rc=$?
    set -e
    name="link kept" out=$keep
    expect "what vault links to .* is Vault $newer" && expect "using $tmp/newer/vault as $keep" && ok
  fi
fi

# A real Vault binary, when there is one.
real=${REAL_VAULT:-}
if [ -z "$real" ] && [ -f "$root/bin/vault" ] && [ ! -L "$root/bin/vault" ]; then
  real="$root/bin/vault"
fi
if [ -n "$real" ] && "$real" version 2>/dev/null | grep -q "^Vault $pinned[ ,]"; then
  mkdir -p "$tmp/real"
  ln -s "$(readlink -f "$real")" "$tmp/real/vault"
  run "a real Vault $pinned on PATH" "$tmp/real"
  if expect "using $(readlink -f "$real") as $out" && [ "$("$out" version | head -n 1 | cut -d' ' -f2 | tr -d ,)" = "$pinned" ]; then
    ok
  fi
  run "a real Vault and a wrong fake in front of it" "$tmp/older:$tmp/real" "VAULT_BIN=$tmp/older/vault" -- --dry-run
  expect "not used" && builds
else
  echo "skipped: a real Vault $pinned (set REAL_VAULT=/path/to/vault, or build bin/vault with make vault)"
fi

echo "test-build-vault: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
