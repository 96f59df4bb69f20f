#!/usr/bin/env bash
# Proves that the release is reproducible and well formed (make
# release-verify; CI runs it):
#
#   scripts/release-verify.sh 0.2.0
#   RELEASE_PLATFORMS=all scripts/release-verify.sh 0.2.0     # the whole matrix
#
# It builds the release (scripts/release.sh) twice: once from this tree, and
# once from a copy of it at another path, with another umask and time zone;
# in that second build the platforms of RELEASE_VERIFY_COLD (default
# linux/amd64; "all": every one) are compiled from an empty Go build cache
# (every package of Go and of every module compiled anew), the others reuse
# the build cache (compiled packages; linked, archived and summed anew). The
# two SHA256SUMS must be equal byte for byte. Then, in the first build: every
# checksum holds; each zip holds exactly one entry, the platform's binary,
# mode 0755, equal to the bare binary; every binary holds the version string
# and was built (`go version -m`) with CGO_ENABLED=0, -trimpath and no VCS
# stamp; each SBOM names the version and the binary's SHA-256; and the binary
# for this machine's platform runs and its -version prints the version.
#
# RELEASE_PLATFORMS defaults to one platform per OS (both architectures
# covered): each platform compiled from an empty cache costs about a minute
# or two on 2 cores, the whole matrix of 8 about ten.
# RELEASE_VERIFY_KEEP=1 keeps both builds (their directory is printed).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
plugin=vault-plugin-secrets-passwordsafe
GO=${GO:-go}
export GO

say() { printf 'release-verify: %s\n' "$*"; }
die() { printf 'release-verify: FAIL: %s\n' "$*" >&2; exit 1; }

[ "$#" -eq 1 ] || { echo "usage: $0 VERSION" >&2; exit 2; }
version=${1#v}
export RELEASE_PLATFORMS=${RELEASE_PLATFORMS:-linux/amd64 darwin/arm64 windows/amd64 freebsd/arm64}
if [ "$RELEASE_PLATFORMS" = all ]; then
  RELEASE_PLATFORMS="linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64 freebsd/amd64 freebsd/arm64"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/release-verify.XXXXXX")
if [ "${RELEASE_VERIFY_KEEP:-0}" != 0 ]; then
  say "keeping $tmp"
else
  trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
fi

# One date for both builds (the copy has no git history to take it from).
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 315532800)}

start=$(date +%s)
say "build 1: this tree"
bash "$root/scripts/release.sh" -o "$tmp/a" "$version"
t1=$(($(date +%s) - start))

# The copy: the files git knows (tracked, and new ones not ignored), as the
# tree has them now.
mkdir -p "$tmp/src/elsewhere"
(
  cd "$root"
  git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    if [ -e "$f" ]; then cp --parents -t "$tmp/src/elsewhere" "$f"; fi
  done
)
cdx=
[ -x "$root/bin/tools/cyclonedx-gomod" ] && cdx="$root/bin/tools/cyclonedx-gomod"

cold=${RELEASE_VERIFY_COLD:-linux/amd64}
[ "$cold" = all ] && cold=$RELEASE_PLATFORMS
cold_set= warm_set=
for p in $RELEASE_PLATFORMS; do
  case " $cold " in
    *" $p "*) cold_set+=" $p" ;;
    *) warm_set+=" $p" ;;
  esac
done
if [ -n "$cdx" ]; then
  # The SBOM tool as built once, not again from an empty cache.
  mkdir -p "$tmp/src/elsewhere/bin/tools"
  cp "$cdx" "$tmp/src/elsewhere/bin/tools/"
fi
say "build 2: a copy at $tmp/src/elsewhere, umask 077, TZ=Pacific/Chatham; empty build cache for:${cold_set:- none}"
t0=$(date +%s)
build2() { # build2 DIR PLATFORMS [GOCACHE]
  (
    umask 077
    export TZ=Pacific/Chatham LC_ALL=C.UTF-8 RELEASE_PLATFORMS=$2
    [ -n "${3:-}" ] && export GOCACHE=$3
    bash "$tmp/src/elsewhere/scripts/release.sh" -o "$1" "$version"
  )
}
: >"$tmp/b.sums"
if [ -n "$cold_set" ]; then
  build2 "$tmp/b-cold" "${cold_set# }" "$tmp/gocache"
  cat "$tmp/b-cold/SHA256SUMS" >>"$tmp/b.sums"
fi
if [ -n "$warm_set" ]; then
  build2 "$tmp/b-warm" "${warm_set# }"
  cat "$tmp/b-warm/SHA256SUMS" >>"$tmp/b.sums"
fi
t2=$(($(date +%s) - t0))

# The second build's checksums, in release.sh's order (by name).
mkdir -p "$tmp/b"
LC_ALL=C sort -k2,2 "$tmp/b.sums" >"$tmp/b/SHA256SUMS"
if ! cmp -s "$tmp/a/SHA256SUMS" "$tmp/b/SHA256SUMS"; then
  diff "$tmp/a/SHA256SUMS" "$tmp/b/SHA256SUMS" >&2 || true
  die "the two builds differ (above: build 1 <, build 2 >)"
fi
say "SHA256SUMS identical ($(wc -l <"$tmp/a/SHA256SUMS") files)"

a="$tmp/a"
(cd "$a" && sha256sum --quiet -c SHA256SUMS) || die "a checksum in SHA256SUMS does not hold"
sbom=
ls "$a"/*.sbom.cdx.json >/dev/null 2>&1 && sbom=1

expected=$(
  echo SHA256SUMS
  for p in $RELEASE_PLATFORMS; do
    os=${p%/*} arch=${p#*/} exe=$plugin
    [ "$os" = windows ] && exe=$plugin.exe
    echo "${os}_${arch}/$exe"
    echo "${plugin}_${version}_${os}_${arch}.zip"
    [ -n "$sbom" ] && echo "${plugin}_${version}_${os}_${arch}.sbom.cdx.json"
  done | LC_ALL=C sort
)
got=$(cd "$a" && find . -type f | sed 's#^\./##' | grep -v '^SHA256SUMS$' | LC_ALL=C sort)
got=$(printf 'SHA256SUMS\n%s\n' "$got" | LC_ALL=C sort)
[ "$got" = "$(printf '%s\n' "$expected" | LC_ALL=C sort)" ] ||
  die "dist holds other files than expected:$(diff <(printf '%s\n' "$expected" | LC_ALL=C sort) <(printf '%s\n' "$got") | sed 's/^/ /')"

sum_of() { awk -v f="$1" '$2 == f { print $1 }' "$a/SHA256SUMS"; }
host="$("$GO" env GOHOSTOS)/$("$GO" env GOHOSTARCH)"
ran=
for p in $RELEASE_PLATFORMS; do
  os=${p%/*} arch=${p#*/} exe=$plugin
  [ "$os" = windows ] && exe=$plugin.exe
  zipf="$a/${plugin}_${version}_${os}_${arch}.zip"
  bin="$a/${os}_${arch}/$exe"
  want=$(sum_of "${os}_${arch}/$exe")
  [ -n "$want" ] || die "SHA256SUMS has no line for ${os}_${arch}/$exe"

  entries=$(unzip -Z1 "$zipf")
  [ "$entries" = "$exe" ] || die "$(basename "$zipf") holds '$(echo "$entries" | tr '\n' ' ')', not just $exe"
  mode=$(unzip -Z "$zipf" "$exe" | awk '{ print $1 }')
  [ "$mode" = "-rwxr-xr-x" ] || die "$exe in $(basename "$zipf") has mode $mode, not -rwxr-xr-x"
  inzip=$(unzip -p "$zipf" "$exe" | sha256sum | cut -d' ' -f1)
  [ "$inzip" = "$want" ] || die "$exe in $(basename "$zipf") is not the binary of SHA256SUMS"

  info=$("$GO" version -m "$bin")
  # (With -trimpath, Go records no -ldflags in the binary: the stamp is
  # looked for as a string, and run on this machine's platform below.)
  for w in "CGO_ENABLED=0" "GOOS=$os" "GOARCH=$arch" "-trimpath=true"; do
    grep -qF -- "$w" <<<"$info" || die "go version -m ${os}_${arch}/$exe lacks $w:
$info"
  done
  if grep -q 'vcs\.' <<<"$info"; then die "${os}_${arch}/$exe has a VCS stamp"; fi
  grep -aqF "v$version" "$bin" || die "${os}_${arch}/$exe does not hold the string v$version"

  if [ -n "$sbom" ]; then
    s="$a/${plugin}_${version}_${os}_${arch}.sbom.cdx.json"
    grep -qF "\"version\": \"v$version\"" "$s" || die "$(basename "$s") does not name version v$version"
    grep -qF "$want" "$s" || die "$(basename "$s") does not hold the binary's SHA-256"
  fi

  if [ "$p" = "$host" ]; then
    # The stamp took effect: -version prints it. Run by hand without it, a
    # plugin says so (go-plugin) and exits 1.
    got=$("$bin" -version) || die "${os}_${arch}/$exe -version failed"
    [ "$got" = "v$version" ] || die "${os}_${arch}/$exe -version prints '$got', not v$version"
    set +e
    outp=$("$bin" 2>&1)
    rc=$?
    set -e
    grep -q 'This binary is a plugin' <<<"$outp" || die "${os}_${arch}/$exe run by hand printed (exit $rc): $outp"
    ran=" ($p: $exe -version prints v$version)"
  fi
done
say "every archive holds exactly its binary, each stamped v$version$ran${sbom:+, SBOMs name the version and binary hash}"
say "OK: $RELEASE_PLATFORMS: build 1 ${t1}s, build 2 ${t2}s (empty cache for:${cold_set:- none})"
