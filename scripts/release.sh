#!/bin/sh
# release.sh builds the release binaries of reach, reproducibly.
#
# Usage: scripts/release.sh [VERSION]
#
#   VERSION    the version stamped into the binaries (reach version prints it);
#              default: `git describe --tags --always --dirty`.
#
# Environment:
#
#   PLATFORMS  the GOOS/GOARCH pairs to build, space-separated; default
#              "linux/amd64 linux/arm64 darwin/amd64 darwin/arm64".
#   DIST       the output directory; default dist (in the repository root).
#
# Output: DIST/reach-VERSION-GOOS-GOARCH for each platform, and
# DIST/SHA256SUMS listing their checksums.
#
# Reproducible: two runs on the same commit, with the same Go toolchain (go.mod
# names the version; `go version` says which one runs), produce byte-identical
# binaries, wherever the checkout lies and whoever builds it:
#
#   -trimpath         no file system paths of the build machine in the binary;
#   CGO_ENABLED=0     no C toolchain, so no host libraries or paths (and cross
#                     builds work from any machine);
#   -buildvcs=true    the commit and whether the tree was modified are recorded
#                     (reach version prints them); they are the same for the same
#                     commit, and the commit time is the commit's, not the clock's;
#   -ldflags -X       the version stamp (main.version); -s -w drop the symbol
#                     table and DWARF, -buildid= leaves no build ID that could
#                     differ between machines;
#   -mod=readonly     go.sum pins every dependency.
#
# Go embeds no timestamps, so nothing else varies. A build from a tree with
# uncommitted changes says so ("modified") and is not a release.
#
# To check a release, build the same tag again and compare:
#
#   git checkout v1.2.0 && scripts/release.sh v1.2.0 && sha256sum -c dist/SHA256SUMS
set -eu

cd "$(dirname "$0")/.."

VERSION=${1:-$(git describe --tags --always --dirty 2>/dev/null || echo devel)}
PLATFORMS=${PLATFORMS:-"linux/amd64 linux/arm64 darwin/amd64 darwin/arm64"}
DIST=${DIST:-dist}

case "$VERSION" in
*[!A-Za-z0-9._+-]*) echo "release.sh: VERSION $VERSION: only letters, digits and ._+- please" >&2; exit 2 ;;
esac
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then
	echo "release.sh: warning: the tree has uncommitted changes; the binaries will say modified" >&2
fi

mkdir -p "$DIST"
files=""
for p in $PLATFORMS; do
	goos=${p%/*}
	goarch=${p#*/}
	out="reach-$VERSION-$goos-$goarch"
	echo "building $DIST/$out" >&2
	CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch GOFLAGS=-mod=readonly \
		go build -trimpath -buildvcs=true \
		-ldflags "-s -w -buildid= -X main.version=$VERSION" \
		-o "$DIST/$out" ./cmd/reach
	files="$files $out"
done

sha256=sha256sum
command -v sha256sum >/dev/null 2>&1 || sha256="shasum -a 256" # macOS
# shellcheck disable=SC2086 # (files is a list of names without spaces)
(cd "$DIST" && $sha256 $files >SHA256SUMS)
cat "$DIST/SHA256SUMS"
