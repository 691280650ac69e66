#!/usr/bin/env bash
# tests/vm/run.sh: the hardware layer against a real Linux kernel. Boots Debian's own kernel (fetched with
# `apt-get download`, unpacked with dpkg-deb, never installed) under QEMU with QEMU's edu device and an emulated
# Intel IOMMU, and runs tests/vm/guest/tests.sh in it: sysfs BAR mapping, UIO, VFIO type1 + IOMMU DMA (a mapped
# round trip, an unmapped DMA that the IOMMU must block), bind for real and its refusals, `roceuio mmio`.
# Two boots: "iommu" (intel-iommu, intel_iommu=on) and "noiommu" (no IOMMU: physical-address DMA, VFIO refused).
# Results come over the second serial port between markers; ends with "N passed, N failed, N skipped".
#
# Everything fetched or built lives in artifacts/vm/ (ignored) and is reused while unchanged.
# Environment: ROCEUIO_SKIP_VM=1 skips it (loudly); ROCEUIO_VM_KERNEL=linux-image-... picks the kernel package;
# ROCEUIO_VM_ACCEL=tcg|kvm forces an accelerator (default: kvm when /dev/kvm works, else tcg);
# ROCEUIO_VM_MODES="iommu noiommu" picks the boots.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
here=tests/vm
cache=artifacts/vm
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

if [ "${ROCEUIO_SKIP_VM:-}" = 1 ]; then
  echo "############################################################"
  echo "###  VM tests NOT run (ROCEUIO_SKIP_VM=1)                ###"
  echo "############################################################"
  exit 0
fi

t0=$(date +%s)
step() { echo "vm: $* (+$(( $(date +%s) - t0 )) s)"; }
die() { echo "vm: $*" >&2; echo "0 passed, 1 failed, 0 skipped"; exit 1; }

for tool in qemu-system-x86_64 cpio depmod modprobe dpkg-deb gzip; do
  command -v "$tool" >/dev/null || die "'$tool' is missing: run ./build.sh test-vm (it installs qemu-system-x86 busybox-static cpio kmod)"
done
busybox=/bin/busybox
{ ldd "$busybox" 2>&1 || true; } | grep -q 'not a dynamic executable' || die "$busybox is not the static busybox: apt-get install busybox-static"
mkdir -p "$cache"

# --- the kernel: linux-image-amd64's current dependency, or the newest one already unpacked when apt knows none ---
# Lists older than the mirror may name a kernel it no longer has: on a miss, apt-get update (as root) once and retry.
apt_updated=0
apt_update_once() {
  [ "$apt_updated" = 0 ] && [ "$(id -u)" -eq 0 ] || return 1
  apt_updated=1
  step "apt-get update"
  apt-get update -q >/dev/null 2>&1
}
kernel_package() {   # sets pkg
  pkg=${ROCEUIO_VM_KERNEL:-}
  [ -n "$pkg" ] && return 0
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  if [ -z "$pkg" ] && apt_update_once; then
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  fi
  [ -n "$pkg" ] || pkg=$(ls -1 "$cache/kernel" 2>/dev/null | sort -V | tail -n 1)
  [ -n "$pkg" ] || die "no kernel package known: apt-cache depends linux-image-amd64 found nothing (apt-get update as root)"
}
kernel_package
kdir="$cache/kernel/$pkg"
if [ ! -f "$kdir/.unpacked" ]; then
  step "fetching $pkg"
  rm -rf "$kdir" "$cache/debs" && mkdir -p "$kdir" "$cache/debs"
  if ! (cd "$cache/debs" && apt-get download "$pkg" >/dev/null 2>&1); then
    if [ -z "${ROCEUIO_VM_KERNEL:-}" ] && apt_update_once; then
      rm -rf "$kdir"; kernel_package; kdir="$cache/kernel/$pkg"; mkdir -p "$kdir"; step "fetching $pkg"
    fi
    (cd "$cache/debs" && apt-get download "$pkg" >/dev/null 2>&1) || die "apt-get download $pkg failed"
  fi
  dpkg-deb -x "$cache"/debs/*.deb "$kdir"
  rm -rf "$cache/debs"
  kver=$(ls "$kdir/lib/modules")
  depmod -b "$kdir" "$kver"
  touch "$kdir/.unpacked"
fi
kver=$(ls "$kdir/lib/modules")
vmlinuz="$kdir/boot/vmlinuz-$kver"
[ -f "$vmlinuz" ] || die "$vmlinuz is missing from $pkg"

# --- native binaries: roceuio and the in-guest checks, NativeAOT (TCG is too slow for a JIT). roceuio is the
# NativeAOT bin/roceuio that ./build.sh makes (or ROCEUIO_BIN), when it is one (an ELF, not a dotnet wrapper);
# otherwise (an older checkout, run.sh alone) the harness publishes its own. ---
aot="$cache/aot"
is_elf() { [ "$(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ]; }
roceuio_bin="$aot/cli/roceuio"
for candidate in "${ROCEUIO_BIN:-}" bin/roceuio; do
  if [ -n "$candidate" ] && is_elf "$candidate"; then roceuio_bin=$candidate; break; fi
done
publish() {   # PROJECT OUTDIR [MSBUILD PROPERTIES...]
  local project=$1 out=$2; shift 2
  local stamp
  stamp=$( { find src drivers "$project" \( -name bin -o -name obj \) -prune -o \( -name '*.cs' -o -name '*.csproj' \) -print | LC_ALL=C sort | xargs cat; cat Directory.*; echo "$*"; } | sha256sum | cut -c1-16)
  [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ] && return 0
  step "publishing $project NativeAOT"
  rm -rf "$out" && mkdir -p "$out"
  dotnet publish "$project" -c Release -r linux-x64 -p:PublishAot=true "$@" -o "$out" -nologo -v:q -clp:NoSummary > "$out.log" 2>&1 \
    || { tail -n 30 "$out.log"; die "NativeAOT publish of $project failed"; }
  echo "$stamp" > "$out/.stamp"
}
if [ "$roceuio_bin" = "$aot/cli/roceuio" ]; then
  publish src/RoceUio.Cli "$aot/cli"
fi
step "roceuio: $roceuio_bin"
publish tests/RoceUio.VmChecks "$aot/checks"

# --- the initramfs: busybox, modules in dependency order, the binaries and their libraries ---
step "building the initramfs (kernel $kver)"
ird="$cache/initramfs" && rm -rf "$ird" && mkdir -p "$ird"/{bin,dev,proc,sys,tmp,lib/modules}
cp "$busybox" "$ird/bin/busybox"
cp "$here/guest/init" "$ird/init" && chmod 755 "$ird/init"
cp "$here/guest/tests.sh" "$ird/tests.sh"
cp "$here/guest/rxe.sh" "$ird/rxe.sh"
# iproute2's ip (VLAN, macvlan and bond links: busybox's ip has not all of them) and rdma (rdma link add).
mkdir -p "$ird/usr/sbin"
for tool in ip rdma; do
  p=$(command -v "$tool") && cp "$p" "$ird/usr/sbin/$tool" || echo "vm: no $tool here (apt-get install iproute2): the rxe tests will be skipped"
done
cp "$roceuio_bin" "$ird/bin/roceuio"
cp "$aot/checks/roceuio-vmchecks" "$ird/bin/roceuio-vmchecks"
# crc32_generic: rxe asks the crypto API for "crc32" (rxe_register_device), which no module dependency brings.
modules="vfio-pci vfio_iommu_type1 uio_pci_generic virtio_pci virtio_net rdma_rxe crc32_generic 8021q macvlan bonding"
: > "$ird/modules.load"
for m in $modules; do
  modprobe -d "$kdir" -S "$kver" --show-depends "$m" | while read -r cmd path params; do
    [ "$cmd" = insmod ] || continue
    rel=${path#*/lib/modules/}
    grep -q "^$rel\( \|$\)" "$ird/modules.load" && continue
    mkdir -p "$ird/lib/modules/$(dirname "$rel")"
    cp "$path" "$ird/lib/modules/$rel"
    echo "$rel $params" >> "$ird/modules.load"
  done
done
# Libraries from ldd, plus OpenSSL's, which .NET's crypto shim opens with dlopen (ldd cannot see it): the daemon
# needs it ("No usable version of libssl was found" otherwise).
for b in "$ird/bin/roceuio" "$ird/bin/roceuio-vmchecks" "$ird"/usr/sbin/*; do
  ldd "$b" | grep -oE '/[^ ]+'
done | sort -u | while read -r lib; do
  mkdir -p "$ird$(dirname "$lib")" && cp -L "$lib" "$ird$lib"
done
for lib in /usr/lib/x86_64-linux-gnu/libssl.so.3 /usr/lib/x86_64-linux-gnu/libcrypto.so.3; do
  if [ -f "$lib" ]; then mkdir -p "$ird$(dirname "$lib")" && cp -L "$lib" "$ird$lib"; fi
done
initrd="$cache/initramfs.cpio.gz"
(cd "$ird" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -1 > "$initrd"

# --- the accelerator: KVM when a guest really runs under it here (nested KVM may open /dev/kvm and then fail to
# start a vCPU: "failed to set MSR 0x10a"), else TCG. The probe boots the kernel without a root fs to its first line.
accel=${ROCEUIO_VM_ACCEL:-}
if [ -z "$accel" ]; then
  accel=tcg
  if [ -r /dev/kvm ]; then
    rm -f "$cache/kvm-probe.log"
    (timeout 30 qemu-system-x86_64 -machine q35,accel=kvm -cpu host -m 256 -nodefaults -display none -no-reboot \
      -kernel "$vmlinuz" -append "console=ttyS0 panic=-1" -serial "file:$cache/kvm-probe.log" >/dev/null 2>&1 || true) 2>/dev/null
    grep -q 'Linux version' "$cache/kvm-probe.log" 2>/dev/null && accel=kvm
  fi
fi
case $accel in
  kvm) machine="q35,accel=kvm,kernel-irqchip=split" ; cpu=host ;;   # intremap needs the split irqchip under KVM
  *) machine="q35,accel=tcg" ; cpu=max ;;
esac

passed=0 failed=0 skipped=0
boot() {   # MODE: iommu | noiommu
  local mode=$1 out="$cache/run-$1" iommu_dev=() append
  rm -rf "$out" && mkdir -p "$out"
  append="console=ttyS0 panic=-1 loglevel=4 roceuio.mode=$mode"
  if [ "$mode" = iommu ]; then
    # Under TCG the emulated VT-d needs nothing more than intremap=on (with x2APIC off it falls back); it must come
    # before the PCI devices it translates. caching-mode is only for assigning devices to nested guests.
    iommu_dev=(-device intel-iommu,intremap=on)
    append="$append intel_iommu=on"
  else
    append="$append intel_iommu=off"
  fi
  step "booting ($mode, $accel)"
  local b0 rc=0
  b0=$(date +%s)
  timeout 240 qemu-system-x86_64 -machine "$machine" -cpu "$cpu" -smp 1 -m 1024 -nodefaults -display none -no-reboot \
    "${iommu_dev[@]}" \
    -device edu,addr=04.0,dma_mask=0xffffffffffffffff \
    -netdev hubport,id=n0,hubid=0 -device virtio-net-pci,netdev=n0,addr=05.0 \
    -kernel "$vmlinuz" -initrd "$initrd" -append "$append" \
    -serial "file:$out/console.log" -serial "file:$out/results.log" \
    > "$out/qemu.log" 2>&1 || rc=$?
  local secs=$(( $(date +%s) - b0 ))
  tr -d '\r' < "$out/results.log" > "$out/results.txt"
  if ! grep -q '^===ROCEUIO-VM-END===' "$out/results.txt"; then
    echo "vm: the $mode guest did not finish (qemu exit $rc after $secs s); QEMU said, and the console ended with:"
    head -n 5 "$out/qemu.log" 2>/dev/null || true
    tail -n 30 "$out/console.log" 2>/dev/null || true
    sed -n '/^===ROCEUIO-VM-BEGIN===/,$p' "$out/results.txt"
    failed=$((failed + 1))
    return
  fi
  sed -n '/^===ROCEUIO-VM-BEGIN===/,/^===ROCEUIO-VM-END===/p' "$out/results.txt" | sed '1d;$d' | sed "s/^\(ok\|not ok\|skip\) /\1 $mode./"
  local p f s
  p=$(grep -c '^ok ' "$out/results.txt" || true)
  f=$(grep -c '^not ok ' "$out/results.txt" || true)
  s=$(grep -c '^skip ' "$out/results.txt" || true)
  echo "vm: $mode guest: $p passed, $f failed, $s skipped in $secs s (qemu $accel)"
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}
for mode in ${ROCEUIO_VM_MODES:-iommu noiommu}; do boot "$mode"; done
step "done; logs in $cache/run-*/"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
