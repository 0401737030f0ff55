#!/usr/bin/env bash
# Runs every fuzz target of the repository in turn, each for FUZZTIME:
#
#   tools/fuzz-all.sh 10s      # fuzz each target for 10 s
#   tools/fuzz-all.sh -list    # print "package target" for each target
#
# The targets are found afresh each time (every `func FuzzXxx(` at the start
# of a line in a _test.go file), so a new one is fuzzed without editing this
# script or the Makefile. Stops at the first failing target; the failing
# input is written to that package's testdata/fuzz/<Name>/.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

targets() {
  grep -rEo --include='*_test.go' --exclude-dir=.git --exclude-dir=testdata \
      '^func Fuzz[A-Za-z0-9_]*\(' . |
    sed -E 's#^\./(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\($#./\1 \2#; s#^\./[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\($#. \1#' |
    sort -u
}

list=$(targets)
if [ -z "$list" ]; then
  echo "fuzz-all: no fuzz targets found (expected func FuzzXxx in some _test.go)" >&2
  exit 1
fi

if [ "${1:-}" = "-list" ]; then
  echo "$list"
  exit 0
fi
fuzztime=${1:?usage: tools/fuzz-all.sh FUZZTIME | -list}

n=$(echo "$list" | wc -l)
echo "fuzz-all: $n targets, $fuzztime each"
while read -r pkg name; do
  echo "== $name ($pkg)"
  "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"
done <<<"$list"
