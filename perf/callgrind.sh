#!/usr/bin/env bash
# Instructions per operation for the GidTableScaleBenchmarks shapes, counted by callgrind instead of timed, for a
# machine too busy to time (perf/RESULTS.md). Needs valgrind; build first (./build.sh). Prints one line per
# measurement: name, operations, instructions per operation (the empty measurement's constant subtracted).
# Valgrind hides AVX-512 from the JIT, so the code counted is the AVX2 build of the same methods; tiered code
# without PGO (DOTNET_TieredCompilation=0 gave MinOpts code for every method with a loop under valgrind).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command -v valgrind >/dev/null || { echo "perf/callgrind.sh: valgrind is missing (Debian: apt-get install valgrind)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
DOTNET_TieredPGO=0 DOTNET_TC_CallCountingDelayMs=0 valgrind --tool=callgrind --toggle-collect=lfind --dump-after=lfind \
  --smc-check=all-non-file --callgrind-out-file="$work/cg.out.%p" \
  dotnet "$root/perf/RoceUio.Perf/bin/Release/net10.0/RoceUio.Perf.dll" --instructions > probe.txt 2> valgrind.txt
# One dump per measurement, numbered in the order probe.txt names them.
mapfile -t names < <(grep '^measure ' probe.txt)
mapfile -t dumps < <(ls cg.out.*.* | sort -t. -k4 -n)
[ "${#names[@]}" -eq "${#dumps[@]}" ] || { echo "perf/callgrind.sh: ${#names[@]} measurements but ${#dumps[@]} dumps" >&2; exit 1; }
empty=0
for i in "${!names[@]}"; do
  ir=$(grep -E '^(summary|totals):' "${dumps[$i]}" | head -1 | awk '{print $2}')
  read -r _ name ops <<<"${names[$i]}"
  ops=${ops#ops=}
  # The first (empty) measurement also pays the comparator's one-time stub; the dumps after it print raw.
  if [ "$name" = empty ]; then continue; fi
  awk -v n="$name" -v ir="$ir" -v e="$empty" -v ops="$ops" 'BEGIN { printf "%-42s %6d ops %10.1f instructions/op\n", n, ops, (ir - e) / ops }'
done
