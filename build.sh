#!/usr/bin/env bash
# RoceUio build script. Needs only the .NET 10 SDK, a C compiler (cc/gcc) and iproute2.
#   ./build.sh          restore and build everything (Release), compile native/, publish the NativeAOT bin/roceuio
#   ./build.sh test     build, then run every test (the end-to-end ones against bin/roceuio, the VM tests too); ends with "N passed, N failed[, N skipped]"
#   ./build.sh test-vm  only the VM tests (tests/vm/run.sh: Debian's kernel under QEMU with edu and an IOMMU)
#   ./build.sh run      the main job on an embedded default (see README.md)
#   ./build.sh fuzz TARGET [SECONDS]   fuzz one parser (netlink, rtmon, control, config); --list names them
#   ./build.sh soak [MINUTES]   churn the daemon in a private netns (not in CI); RSS over time, table checked at the end
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
  local out=artifacts/native
  # layout: kernel ABI numbers and the shared-memory table layout, compared with the C# definitions by tests/.
  cc -O2 -Wall -Werror -o $out/layout native/layout.c native/netlink_layout.c native/vfio_layout.c native/shm_layout.c
  # libroceuio_gids (shared and static): the C reader of the shared-memory GID tables (docs/shm-layout.md).
  cc -O2 -Wall -Wextra -Werror -std=gnu11 -fPIC -c native/roceuio_gids.c -o $out/roceuio_gids.o
  cc -shared -Wl,-soname,libroceuio_gids.so -o $out/libroceuio_gids.so $out/roceuio_gids.o
  rm -f $out/libroceuio_gids.a && ar rcs $out/libroceuio_gids.a $out/roceuio_gids.o
  # roceuio-gids: the library's example program; roceuio-gids-churn: the reader tests/ run against a churning table.
  cc -O2 -Wall -Wextra -Werror -std=gnu11 -o $out/roceuio-gids native/roceuio_gids_tool.c $out/libroceuio_gids.a
  cc -O2 -Wall -Wextra -Werror -std=gnu11 -o $out/roceuio-gids-churn native/roceuio_gids_churn.c $out/libroceuio_gids.a
  # roceuio-gids-bench: times the C lookup from C, for perf/RESULTS.md beside ShmLookupBenchmarks.
  cc -O2 -Wall -Wextra -Werror -std=gnu11 -o $out/roceuio-gids-bench native/roceuio_gids_bench.c $out/libroceuio_gids.a
  # roceuio-gids-ab: the bucket layouts and key hashes A/B in one process (perf/RESULTS.md, ShmLookupBenchmarks).
  cc -O2 -Wall -Wextra -Werror -std=gnu11 -o $out/roceuio-gids-ab native/roceuio_gids_ab.c $out/libroceuio_gids.a
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

# The VM tests' tools, from Debian's packages when missing (as root; apt-get update only if the first try fails).
ensure_vm_tools() {
  [ "${ROCEUIO_SKIP_VM:-}" = 1 ] && return 0
  local missing=()
  command -v qemu-system-x86_64 >/dev/null 2>&1 || missing+=(qemu-system-x86)
  { ldd /bin/busybox 2>&1 || true; } | grep -q 'not a dynamic executable' || missing+=(busybox-static)
  command -v cpio >/dev/null 2>&1 || missing+=(cpio)
  command -v depmod >/dev/null 2>&1 || missing+=(kmod)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "build.sh: the VM tests need ${missing[*]}: apt-get install ${missing[*]} (as root), or set ROCEUIO_SKIP_VM=1" >&2
    exit 1
  fi
  echo "build.sh: installing ${missing[*]} for the VM tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; } \
    || { echo "build.sh: apt-get install ${missing[*]} failed" >&2; exit 1; }
}

# Runs tests/vm/run.sh; adds its counts to vm_passed/vm_failed/vm_skipped.
vm_passed=0 vm_failed=0 vm_skipped=0
run_vm_tests() {
  ensure_vm_tools
  local log rc=0 line
  log="$(mktemp)"
  tests/vm/run.sh 2>&1 | tee "$log" || rc=$?
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1 || true)
  rm -f "$log"
  if [ -n "$line" ]; then
    vm_passed=$(echo "$line" | awk '{print $1}')
    vm_failed=$(echo "$line" | awk '{print $3}')
    vm_skipped=$(echo "$line" | awk '{print $5+0}')
  fi
  if [ "$rc" -ne 0 ] && [ "$vm_failed" -eq 0 ]; then
    echo "build.sh: the VM tests failed without a failed test" >&2
    vm_failed=1
  fi
}

# PackagingTests run `systemd-analyze verify` on packaging/roceuio.service: Debian's systemd package has it.
ensure_systemd_analyze() {
  command -v systemd-analyze >/dev/null 2>&1 && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "build.sh: the packaging test needs systemd-analyze: apt-get install systemd (as root)" >&2
    exit 1
  fi
  echo "build.sh: installing systemd (for systemd-analyze verify)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends systemd >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends systemd >/dev/null; } \
    || { echo "build.sh: apt-get install systemd failed" >&2; exit 1; }
}

# MetricsTests runs dotnet-counters (the .NET diagnostics tool) against the native daemon: the tests need it.
ensure_dotnet_counters() {
  [ -x artifacts/tools/dotnet-counters ] && return 0
  dotnet tool install --tool-path artifacts/tools dotnet-counters --version 10.0.750501 >/dev/null 2>&1 \
    || { echo "build.sh: 'dotnet tool install --tool-path artifacts/tools dotnet-counters --version 10.0.750501' failed: the tests need it (is a NuGet feed reachable?)" >&2; exit 1; }
}

run_tests() {
  build
  ensure_systemd_analyze
  ensure_dotnet_counters
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
  echo "unit and integration tests: $passed passed, $failed failed, $skipped skipped"
  run_vm_tests
  passed=$((passed + vm_passed)) failed=$((failed + vm_failed)) skipped=$((skipped + vm_skipped))
  [ "${ROCEUIO_SKIP_VM:-}" = 1 ] && echo "build.sh: VM tests NOT run (ROCEUIO_SKIP_VM=1)"
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
  test-vm) shift; build; run_vm_tests; echo "$vm_passed passed, $vm_failed failed, $vm_skipped skipped"; [ "$vm_failed" -eq 0 ] ;;
  run) shift; build; exec bin/roceuio run --emulate mlx4:auto "$@" ;;
  bench) shift; run_bench "$@" ;;
  fuzz) shift; build; exec dotnet tests/RoceUio.Fuzz/bin/Release/net10.0/RoceUio.Fuzz.dll "$@" ;;
  soak) shift; build; exec tests/soak.sh "$@" ;;
  -h|--help|help) sed -n '2,/^[^#]/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' ;;
  *) echo "build.sh: unknown subcommand '$1' (use: test, test-vm, run, bench, fuzz, soak, or nothing to build)" >&2; exit 2 ;;
esac
