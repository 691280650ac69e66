# Sourced by /init in the tests/vm guest. One line per test on fd 3 (ttyS1): "ok NAME", "not ok NAME", or
# "skip NAME: why", each followed by what the test printed, indented. EDU is QEMU's edu device (run.sh puts it at
# slot 4); VM_MODE is "iommu" (intel-iommu, intel_iommu=on) or "noiommu" (no IOMMU at all), from the command line.
EDU=0000:00:04.0
DEV=/sys/bus/pci/devices/$EDU
VM_MODE=$(sed -n 's/.*roceuio.mode=\([a-z]*\).*/\1/p' /proc/cmdline)

indent() { sed 's/^/    /' >&3; }
result() {   # NAME RC OUTPUT
  case $2 in
    0) say "ok $1" ;;
    77) say "skip $1: $(printf '%s\n' "$3" | tail -n 1)" ;;
    *) say "not ok $1 (exit $2)" ;;
  esac
  # A skip's reason is its line; other output follows, indented.
  if [ -n "$3" ] && { [ "$2" != 77 ] || [ "$(printf '%s\n' "$3" | wc -l)" -gt 1 ]; }; then printf '%s\n' "$3" | indent; fi
  return 0
}
# check NAME CMD...: passes when CMD (a command or a function here) exits 0; 77 means skipped.
check() {
  n=$1; shift
  out=$("$@" 2>&1); rc=$?
  result "$n" "$rc" "$out"
}
# refuses NAME PATTERN CMD...: passes when CMD fails and says PATTERN (an error for the user, not a crash).
refuses() {
  n=$1; p=$2; shift 2
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] && printf '%s' "$out" | grep -q -- "$p"; then
    result "$n" 0 "exit $rc: $out"
  else
    result "$n" 1 "exit $rc, expected a refusal saying '$p':
$out"
  fi
}
skip() { say "skip $1: $2"; }
run() { timeout 120 "$@"; }
driver_of() { if [ -e "$DEV/driver" ]; then basename "$(readlink "$DEV/driver")"; else echo none; fi; }
# bound_to DRIVER: the function's driver link names DRIVER.
bound_to() {
  echo "driver: $(driver_of), driver_override: $(cat "$DEV/driver_override")"
  [ "$(driver_of)" = "$1" ]
}
# wait_for FILE: polls for FILE with a 30 s deadline.
wait_for() {
  i=0
  while [ ! -s "$1" ]; do
    i=$((i + 1)); [ $i -gt 3000 ] && return 1
    usleep 10000
  done
}
# while_held METHOD CHECK ARGS...: runs a check while another process holds the function open through METHOD.
while_held() {
  m=$1; shift
  rm -f /tmp/held
  roceuio-vmchecks hold "$m" "$EDU" /tmp/held > /tmp/hold.out 2>&1 &
  hp=$!
  if wait_for /tmp/held; then
    "$@"
  else
    result "$2" 1 "the holder did not start: $(cat /tmp/hold.out)"
  fi
  kill "$hp" 2>/dev/null; wait "$hp" 2>/dev/null
  return 0
}

# mmio_live [METHOD]: roceuio mmio reads edu's identification, writes liveness and reads back its inverse.
mmio_live() {
  id=$(run roceuio mmio "$EDU" $1 read32 0x0) || return 1
  echo "read32 0x0: $id"
  run roceuio mmio "$EDU" $1 write32 0x4 0x12345678 || return 1
  back=$(run roceuio mmio "$EDU" $1 read32 0x4) || return 1
  echo "read32 0x4 after writing 0x12345678: $back"
  [ "$id" = 0x010000ed ] && [ "$back" = 0xedcba987 ]
}
mmio_dump() {
  out=$(run roceuio mmio "$EDU" dump 0 0x10) || return 1
  echo "$out"
  [ "$(echo "$out" | awk '{print $2}')" = 010000ed ]
}
iommu_on() {
  ls /sys/class/iommu
  echo "iommu_group: $(readlink "$DEV/iommu_group")"
  [ -e /sys/class/iommu/dmar0 ] && [ -e "$DEV/iommu_group" ]
}
bind_uio() { run roceuio bind "$EDU" --uio && bound_to uio_pci_generic && ls "$DEV/uio" && ls -l /dev/uio*; }
bind_vfio() {
  run roceuio bind "$EDU" --vfio && bound_to vfio-pci || return 1
  g=$(basename "$(readlink "$DEV/iommu_group")"); ls -l "/dev/vfio/$g"
}
bind_kernel() {
  run roceuio bind "$EDU" --kernel || return 1
  # edu has no kernel driver: given back, it is left unbound with driver_override cleared.
  bound_to none && [ "$(cat "$DEV/driver_override")" = "(null)" ]
}
noiommu_mode() {
  p=/sys/module/vfio/parameters/enable_unsafe_noiommu_mode
  if [ ! -e $p ]; then echo "this kernel was built without CONFIG_VFIO_NOIOMMU ($p is missing)"; return 77; fi
  echo 1 > $p && cat $p
}
iommufd() {
  if [ ! -e /dev/iommu ] || [ ! -d "$DEV/vfio-dev" ]; then echo "this kernel has no iommufd / VFIO cdev (/dev/iommu or $DEV/vfio-dev missing)"; return 77; fi
  run roceuio-vmchecks vfio-regions "$EDU"
}

say "# mode $VM_MODE, edu at $EDU"
if [ "$VM_MODE" = iommu ]; then
  check iommu.enabled iommu_on
fi
check sysfs.discover run roceuio-vmchecks discover "$EDU"
check sysfs.bar run roceuio-vmchecks bar sysfs "$EDU"
check mmio.sysfs mmio_live --sysfs
check mmio.dump mmio_dump
refuses mmio.outside-bar "outside the 0x100000-byte region" run roceuio mmio "$EDU" read32 0x100000
refuses mmio.nonexistent "no such PCI function" run roceuio mmio 0000:00:1e.7 read32 0
refuses bind.nonexistent "no such PCI function" run roceuio bind 0000:00:1e.7 --vfio

check uio.bind bind_uio
check uio.bar run roceuio-vmchecks bar uio "$EDU"
check mmio.uio mmio_live --uio
if [ "$VM_MODE" = noiommu ]; then
  check uio.dma run roceuio-vmchecks dma uio "$EDU"
fi
while_held uio refuses uio.busy "in use" run roceuio bind "$EDU" --kernel

if [ "$VM_MODE" = iommu ]; then
  check vfio.bind bind_vfio
  check vfio.regions run roceuio-vmchecks vfio-regions "$EDU"
  check vfio.bar run roceuio-vmchecks bar vfio "$EDU"
  check mmio.vfio mmio_live
  check vfio.dma run roceuio-vmchecks dma vfio "$EDU"
  check vfio.dma-unmapped-blocked run roceuio-vmchecks dma-unmapped "$EDU"
  while_held vfio refuses vfio.busy "in use" run roceuio bind "$EDU" --kernel
  check vfio.noiommu-mode noiommu_mode
  check vfio.iommufd iommufd
else
  refuses vfio.no-iommu-group "no IOMMU group" run roceuio bind "$EDU" --vfio
fi
check bind.kernel bind_kernel
check sysfs.bar-after-unbind run roceuio-vmchecks bar sysfs "$EDU"

if [ "$VM_MODE" = noiommu ]; then
  . /rxe.sh
fi
