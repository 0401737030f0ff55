#!/usr/bin/env bash
# Runs the Windows build under wine and the Linux build natively on the same
# input with the built-in simulator, and fails unless both write the same
# output CSV, byte for byte but for the last column, answered_at, which holds
# the wall-clock time of each answer:
#
#   tools/wine-check.sh dist/cardbatch-linux-amd64 dist/cardbatch-windows-amd64.exe [INPUT.csv]
#
# Needs Debian's wine and wine64 (apt-get install wine wine64); no display,
# no i386 multiarch. wine gets a throwaway prefix in a temporary folder
# (WINEPREFIX), so it runs headless as root on a fresh machine; the prefix
# is created first so that its one-time setup is not part of the run.
set -euo pipefail

linux_bin=${1:?usage: tools/wine-check.sh LINUX_BINARY WINDOWS_EXE [INPUT.csv]}
windows_exe=${2:?usage: tools/wine-check.sh LINUX_BINARY WINDOWS_EXE [INPUT.csv]}
input=${3:-samples/cards.csv}
for f in "$linux_bin" "$windows_exe" "$input"; do
  [ -f "$f" ] || { echo "wine-check: $f not found (make release builds the binaries)" >&2; exit 1; }
done
wine=$(command -v wine64 || command -v wine || true)
[ -n "$wine" ] || { echo "wine-check: wine not installed (apt-get install wine wine64)" >&2; exit 1; }

linux_bin_abs=$(realpath "$linux_bin")
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'wineserver -k >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
cp "$input" "$work/input.csv"
cp "$windows_exe" "$work/cardbatch.exe"

# The same flags on both sides; --rate high enough that the run is short.
flags=(run --simulate --input input.csv --rate 1000 --no-progress)

export WINEPREFIX="$work/wineprefix" # a fresh prefix, owned by whoever runs this (root in CI)
export WINEDEBUG=-all                 # no fixme/err chatter on stderr
export WINEDLLOVERRIDES="mscoree,mshtml=" # no Mono/Gecko install prompt while the prefix is made
export WINEARCH=win64
unset DISPLAY WAYLAND_DISPLAY         # headless: no window, no X server needed

start=$(date +%s)
"$wine" wineboot --init >"$work/wineboot.log" 2>&1 || {
  echo "wine-check: wineboot failed:" >&2; cat "$work/wineboot.log" >&2; exit 1; }
wineserver -w
boot=$(($(date +%s) - start))

# Go's runtime needs ProcessPrng from bcryptprimitives.dll, which wine 8.0
# (Debian 12) lacks: give the throwaway prefix a small one, built from
# tools/wine/bcryptprimitives.c with mingw-w64, in system32 (the runtime
# loads it from there only). Newer wine has its own.
if [ ! -e "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" ]; then
  x86_64-w64-mingw32-gcc -O2 -shared -static-libgcc -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" \
    "$repo/tools/wine/bcryptprimitives.c" -lbcrypt
  echo "wine-check: $("$wine" --version) has no bcryptprimitives.dll; using tools/wine/bcryptprimitives.c"
fi

(cd "$work" && "$linux_bin_abs" "${flags[@]}" --output linux.csv) \
  2>"$work/linux.log" || { echo "wine-check: the Linux run failed:" >&2; cat "$work/linux.log" >&2; exit 1; }

start=$(date +%s)
(cd "$work" && "$wine" cardbatch.exe "${flags[@]}" --output windows.csv) \
  2>"$work/windows.log" || { echo "wine-check: the Windows run under wine failed:" >&2; cat "$work/windows.log" >&2; exit 1; }
run=$(($(date +%s) - start))

# answered_at is the last column of the sample's output (no ragged rows, no
# comma in a timestamp): blank it on both sides, compare everything else.
for side in linux windows; do
  sed -E 's/,[^,]*(\r?)$/,\1/' "$work/$side.csv" >"$work/$side.cmp"
done
if ! cmp "$work/linux.cmp" "$work/windows.cmp"; then
  echo "wine-check: the Windows output differs from the Linux output:" >&2
  # (long digit runs masked: the sample's card numbers stay out of CI logs)
  diff "$work/linux.cmp" "$work/windows.cmp" | head -n 20 |
    sed -E 's/[0-9][0-9 -]{10,}[0-9]{4}/<card>/g' >&2 || true
  exit 1
fi
rows=$(($(wc -l <"$work/linux.csv") - 1))
echo "wine-check: identical output ($rows rows, $(wc -c <"$work/linux.csv") bytes); wine prefix ${boot}s, Windows run ${run}s"
