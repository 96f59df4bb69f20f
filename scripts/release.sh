#!/usr/bin/env bash
# Builds the release artefacts of the plugin, reproducibly (make release):
#
#   scripts/release.sh 0.2.0                    # every platform into dist/
#   scripts/release.sh -o /tmp/rel 0.2.0        # into another (new or empty) directory
#   RELEASE_PLATFORMS="linux/amd64 windows/amd64" scripts/release.sh 0.2.0
#
# For each platform (default: linux, darwin, windows, freebsd on amd64 and
# arm64) it writes
#   <os>_<arch>/vault-plugin-secrets-passwordsafe[.exe]    the bare binary
#   vault-plugin-secrets-passwordsafe_<version>_<os>_<arch>.zip   holding only that binary
#   vault-plugin-secrets-passwordsafe_<version>_<os>_<arch>.sbom.cdx.json   CycloneDX SBOM
# and SHA256SUMS over all of them (archives, bare binaries, SBOMs): the
# binary's line is the -sha256 of `vault plugin register`.
#
# The same source, Go version and zip give the same bytes: CGO_ENABLED=0,
# -trimpath, -buildvcs=false, an empty build ID, the version stamped with
# -X main.version; files dated SOURCE_DATE_EPOCH (default: the commit time of
# HEAD), mode 0755, zip -X (no owner ids or extra timestamps) in UTC.
# scripts/release-verify.sh proves it by building twice.
#
# The SBOM comes from cyclonedx-gomod (CYCLONEDX_GOMOD_VERSION, installed from
# the Go module proxy into bin/tools/); RELEASE_SBOM=0 skips it, and so does
# a failed install (with a warning).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
plugin=vault-plugin-secrets-passwordsafe
all_platforms="linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64 freebsd/amd64 freebsd/arm64"
cdx_version=${CYCLONEDX_GOMOD_VERSION:-v1.10.0}
GO=${GO:-go}

say() { printf 'release: %s\n' "$*"; }
die() { printf 'release: error: %s\n' "$*" >&2; exit 1; }
usage() { echo "usage: $0 [-o DIR] VERSION   (VERSION like 0.2.0)" >&2; exit 2; }

dist="$root/dist"
while getopts 'o:' opt; do
  case $opt in
    o) dist=$OPTARG ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[ "$#" -eq 1 ] || usage
version=${1#v}
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] ||
  die "VERSION '$1' is not a semantic version like 0.2.0 (or 0.2.0-rc.1)"

platforms=${RELEASE_PLATFORMS:-$all_platforms}
[ "$platforms" = all ] && platforms=$all_platforms
for p in $platforms; do
  case " $all_platforms " in
    *" $p "*) ;;
    *) die "platform '$p' is not one of: $all_platforms" ;;
  esac
done

# zip and unzip come from Debian's packages: installed here when missing
# and we may (root, apt-get), so a fresh machine needs nothing of ours.
for t in zip unzip; do
  if ! command -v "$t" >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing $t (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$t" >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$t" >/dev/null 2>&1; } || true
  fi
done
for t in zip unzip sha256sum; do
  command -v "$t" >/dev/null || die "$t is needed (Debian: apt-get install $t)"
done

# dist/ is ours to replace; any other directory must be new or empty.
mkdir -p "$dist"
dist=$(cd "$dist" && pwd)
if [ "$dist" = "$root/dist" ]; then
  find "$dist" -mindepth 1 -delete
elif [ -n "$(ls -A "$dist")" ]; then
  die "$dist is not empty"
fi

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git -C "$root" log -1 --format=%ct 2>/dev/null || true)
  # No git: 1980-01-01, the earliest date a zip entry can hold.
  SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-315532800}
fi
[[ $SOURCE_DATE_EPOCH =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH must be seconds since 1970"
[ "$SOURCE_DATE_EPOCH" -ge 315532800 ] || SOURCE_DATE_EPOCH=315532800
export SOURCE_DATE_EPOCH

# Nothing of the caller's environment may change the bytes.
export CGO_ENABLED=0 GOFLAGS=-mod=readonly GOAMD64=v1 GOARM64=v8.0 TZ=UTC LC_ALL=C
unset GOEXPERIMENT GODEBUG GO386 GOARM GOMIPS GOPPC64 GORISCV64 ZIPOPT ZIP
umask 022

start=$(date +%s)
say "v$version for: $platforms ($("$GO" version | cut -d' ' -f3), files dated $(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ))"

sbom=${RELEASE_SBOM:-1}
cdx=
if [ "$sbom" != 0 ]; then
  # bin/tools/ (git-ignored, like all of bin/), installed at the pinned version.
  tools="$root/bin/tools"
  cdx="$tools/cyclonedx-gomod"
  if ! { [ -x "$cdx" ] && "$GO" version -m "$cdx" 2>/dev/null | grep -q "mod[[:space:]]*github.com/CycloneDX/cyclonedx-gomod[[:space:]]*$cdx_version[[:space:]]"; }; then
    say "installing cyclonedx-gomod $cdx_version into bin/tools/"
    if ! (cd "$root" && GOFLAGS= GOBIN="$tools" "$GO" install "github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@$cdx_version"); then
      say "warning: cyclonedx-gomod $cdx_version could not be installed: no SBOM"
      cdx=
    fi
  fi
fi

cd "$root"
for p in $platforms; do
  os=${p%/*} arch=${p#*/}
  exe=$plugin
  [ "$os" = windows ] && exe=$plugin.exe
  dir="$dist/${os}_${arch}"
  base="${plugin}_${version}_${os}_${arch}"
  t0=$(date +%s)
  mkdir -p "$dir"
  GOOS=$os GOARCH=$arch "$GO" build -trimpath -buildvcs=false \
    -ldflags "-buildid= -X main.version=v$version" \
    -o "$dir/$exe" "./cmd/$plugin"
  chmod 0755 "$dir/$exe"
  touch -d "@$SOURCE_DATE_EPOCH" "$dir/$exe"
  # -X: no uid/gid or extended timestamps; -D: no directory entries.
  (cd "$dir" && zip -X -D -q "$dist/$base.zip" "$exe")
  if [ -n "$cdx" ]; then
    # From the binary's own build information: exactly the modules linked
    # (they differ by platform: windows has no docker client packages) and
    # the binary's hashes. No serial number or timestamp: reproducible.
    "$cdx" bin -json -noserial -notimestamp -version "v$version" \
      -output "$dist/$base.sbom.cdx.json" "$dir/$exe" 2>"$dist/.sbom.log" ||
      { cat "$dist/.sbom.log" >&2; die "cyclonedx-gomod failed for $p"; }
    rm -f "$dist/.sbom.log"
  fi
  say "$p: $base.zip ($(($(date +%s) - t0))s)"
done

# Sorted by name; archives, SBOMs and <os>_<arch>/<binary>.
(
  cd "$dist"
  find . -type f ! -name SHA256SUMS | sed 's#^\./##' | sort | xargs sha256sum >SHA256SUMS
)
say "wrote $(wc -l <"$dist/SHA256SUMS") checksums to $dist/SHA256SUMS in $(($(date +%s) - start))s"
