#!/usr/bin/env bash
# RoceUio build script. Needs only the .NET 10 SDK, a C compiler (cc/gcc) and iproute2.
#   ./build.sh          restore and build everything (Release), compile native/, publish the NativeAOT bin/roceuio
#   ./build.sh test     build, then run every test (the end-to-end ones against bin/roceuio); ends with "N passed, N failed[, N skipped]"
#   ./build.sh run      the main job on an embedded default (see README.md)
#   ./build.sh bench    a quick benchmark run; results under perf/results/
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "build.sh: '$1' is missing. $2" >&2
  exit 1
}

build_native() {
  need cc "Install a C compiler (Debian: apt-get install gcc)."
  mkdir -p artifacts/native
  cc -O2 -Wall -Werror -o artifacts/native/layout native/*.c
}

build() {
  need dotnet "Install the .NET 10 SDK (https://learn.microsoft.com/dotnet/core/install/linux-debian)."
  build_native
  dotnet build RoceUio.sln -c Release -nologo -clp:NoSummary -v:q
  publish_aot
  mkdir -p bin
  # bin/roceuio: the NativeAOT executable (no .NET needed where it runs). bin/roceuio-jit: the same CLI on the JIT,
  # kept for comparisons (perf/RESULTS.md) and for debugging with the managed tools.
  cp -f artifacts/aot/roceuio bin/roceuio.new && mv -f bin/roceuio.new bin/roceuio
  cat > bin/roceuio-jit <<'WRAP'
#!/usr/bin/env bash
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec dotnet "$here/src/RoceUio.Cli/bin/Release/net10.0/roceuio.dll" "$@"
WRAP
  chmod +x bin/roceuio-jit
  # The native binary must stand alone: no DOTNET_ROOT, no PATH, no HOME.
  env -i bin/roceuio --version >/dev/null || { echo "build.sh: bin/roceuio does not run under 'env -i'" >&2; exit 1; }
}

# The NativeAOT publish takes 20 s to 2 min: skip it when nothing that goes into the binary changed since the last one.
aot_inputs_hash() {
  { dotnet --version
    find src drivers Directory.Build.props Directory.Build.targets Directory.Packages.props -type f \
      -not -path '*/bin/*' -not -path '*/obj/*' -print0 | sort -z | xargs -0 sha256sum
  } | sha256sum | cut -d' ' -f1
}

publish_aot() {
  local hash stamp=artifacts/aot/.inputs.sha256
  hash="$(aot_inputs_hash)"
  if [ -x artifacts/aot/roceuio ] && [ "$(cat "$stamp" 2>/dev/null)" = "$hash" ]; then
    return 0
  fi
  rm -f "$stamp"
  # PublishAot is set in the CLI's project; trim and AOT warnings are errors there (Directory.Build.props).
  dotnet publish src/RoceUio.Cli/RoceUio.Cli.csproj -c Release -r linux-x64 -o artifacts/aot \
    -nologo -clp:NoSummary -v:q
  echo "$hash" > "$stamp"
}

run_tests() {
  build
  local log rc=0
  log="$(mktemp)"
  # The end-to-end tests run the native binary (tests/RoceUio.TestSupport/RoceuioCommand.cs).
  ROCEUIO_BIN="$root/bin/roceuio" dotnet test RoceUio.sln -c Release --no-build -nologo "$@" 2>&1 | tee "$log" || rc=$?
  # VSTest prints one summary per test assembly: "Passed!  - Failed: 0, Passed: 12, Skipped: 0, Total: 12, ...".
  local passed failed skipped
  passed=$(grep -oE 'Passed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
  failed=$(grep -oE 'Failed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
  skipped=$(grep -oE 'Skipped: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
  rm -f "$log"
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    echo "build.sh: the test run failed without a failed test (a test host crashed or a project did not run)" >&2
    failed=1
  fi
  echo "$passed passed, $failed failed, $skipped skipped"
  [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
}

run_bench() {
  build
  mkdir -p perf/results
  # --job short keeps the whole run to a few minutes; perf/RESULTS.md records a full run.
  dotnet perf/RoceUio.Perf/bin/Release/net10.0/RoceUio.Perf.dll --filter '*' --job short \
    --artifacts perf/results --exporters github csv "$@"
  # The picture: lookup and update time against table size, every peer (from the CSV report).
  dotnet perf/RoceUio.Perf/bin/Release/net10.0/RoceUio.Perf.dll --chart perf/results/results \
    || echo "build.sh: no chart drawn (GidTableScaleBenchmarks was not in this run)"
  echo "results: perf/results/results/ (chart: perf/results/results/gid-table-scale.svg)"
}

case "${1:-}" in
  "") build ;;
  test) shift; run_tests "$@" ;;
  run) shift; build; exec bin/roceuio run --emulate mlx4:auto "$@" ;;
  bench) shift; run_bench "$@" ;;
  -h|--help|help) sed -n '2,/^[^#]/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' ;;
  *) echo "build.sh: unknown subcommand '$1' (use: test, run, bench, or nothing to build)" >&2; exit 2 ;;
esac
