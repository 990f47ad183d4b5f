#!/bin/bash
# shellcheck disable=SC2015  # "A && B || C" below is meant: C runs when A or B fails
# Usage: tests/kernel/run-in-vm.sh COMMAND [ARGS...]
#   e.g. tests/kernel/run-in-vm.sh .venv/bin/python -m pytest tests/kernel -q
#
# Runs COMMAND as root in ONE throw-away QEMU VM booted with Debian's stock kernel, which
# has IPVS (the kernels of developer and CI machines often do not). The VM sees the host's /
# read-only with a RAM overlay on top (writes are discarded), tmpfs on /tmp and /run, and the
# current directory read-write. It has no network card (unless BMLB_VM_NET gives one, user-mode
# and restricted to forwarded host-loopback ports): all other traffic stays inside the VM.
# Whatever COMMAND needs inside the VM (ipvsadm, ip, nft, python...) comes from the HOST's root,
# so this script installs it on the host. COMMAND's stdout and stderr come out on stdout;
# the exit code is COMMAND's (124: timeout, 125: the VM ended without an exit code).
#
# Inside the VM: BMLB_KERNEL_VM=1 (tests/kernel then fail, not skip, without IPVS),
# PYTHONDONTWRITEBYTECODE=1 and PYTEST_ADDOPTS="-p no:cacheprovider -p no:hypothesispytest ..."
# (no .pytest_cache or .pyc left in the checkout by root; the hypothesis plugin alone costs
# seconds of imports in the VM).
#
# Needs root (apt-get, the cache). A fresh machine downloads ~90 MB (qemu, busybox, ipvsadm,
# the kernel .deb); later runs reuse the cache and only boot (~7 s).
# Env: BMLB_VM_CACHE (default /var/cache/bmlb/vm), BMLB_VM_MEM (MiB, 2048), BMLB_VM_SMP (2),
#      BMLB_VM_ACCEL (auto|kvm|tcg), BMLB_VM_TIMEOUT (seconds, 900),
#      BMLB_VM_MODULES (modules loaded at boot; others load on demand),
#      BMLB_VM_NET (a qemu -netdev spec with id=n0, e.g. user-mode with restrict=on and guestfwd
#      rules: the guest then reaches chosen host-loopback ports and nothing else; default: no NIC).
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
[ "$PWD" != / ] || { echo "run-in-vm: run it from a project directory, not /" >&2; exit 2; }
CACHE=${BMLB_VM_CACHE:-/var/cache/bmlb/vm}
MODULES=${BMLB_VM_MODULES:-"ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_sh ip_vs_mh veth dummy ipip"}
[ -n "${BMLB_VM_NET:-}" ] && MODULES="$MODULES virtio_net"
EARLY="virtio_pci 9pnet_virtio 9p overlay"   # needed to mount the host's / over 9p
HOST_TOOLS="qemu-system-x86_64 ipvsadm ip nft timeout"

have_tools() {
  local t
  [ -x /bin/busybox ] || return 1
  for t in $HOST_TOOLS; do command -v "$t" >/dev/null || return 1; done
}

install_tools() {
  echo "run-in-vm: installing qemu, busybox, ipvsadm, iproute2, nftables on the host" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    qemu-system-x86 busybox-static ipvsadm iproute2 nftables coreutils >/dev/null
}

install_kernel() {   # $CACHE/current/{vmlinuz,lib/modules/KVER}
  local pkg kver tmp
  echo "run-in-vm: fetching Debian's kernel into $CACHE" >&2
  apt-cache show linux-image-amd64 >/dev/null 2>&1 || apt-get update -qq
  # Not pinned: Debian ABI bumps rename the package, so resolve it through the metapackage.
  pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  [ -n "$pkg" ] || { echo "run-in-vm: cannot resolve linux-image-amd64" >&2; exit 125; }
  kver=${pkg#linux-image-}; mkdir -p "$CACHE"; rm -rf "${CACHE:?}/$kver"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root "$pkg" && dpkg-deb -x ./*.deb "$CACHE/$kver.tmp")
  rm -rf "$tmp"; mv "$CACHE/$kver.tmp/boot/vmlinuz-$kver" "$CACHE/$kver.tmp/vmlinuz"
  busybox depmod -b "$CACHE/$kver.tmp" "$kver"     # the .deb ships no modules.dep
  mv "$CACHE/$kver.tmp" "$CACHE/$kver"            # a half-unpacked kernel is never "current"
  ln -sfn "$kver" "$CACHE/current"
}

make_initrd() {  # $1 = output: busybox, the early modules and /init
  local k=$CACHE/current kver ird; kver=$(basename "$(readlink -f "$k")"); ird=$(mktemp -d)
  mkdir -p "$ird"/{bin,proc,sys,dev,host,job,mem,newroot,etc/modprobe.d}
  cp /bin/busybox "$ird/bin/"; echo "$EARLY" > "$ird/early"
  echo "options dummy numdummies=0" > "$ird/etc/modprobe.d/bmlb-vm.conf"
  for f in $(for m in $EARLY; do grep "/$m.ko:" "$k/lib/modules/$kver/modules.dep"; done | tr -d :); do
    install -D -m644 "$k/lib/modules/$kver/$f" "$ird/lib/modules/$kver/$f"
  done
  busybox depmod -b "$ird" "$kver"
  cat > "$ird/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin; export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
echo /bin/modprobe > /proc/sys/kernel/modprobe   # for the kernel's module autoloading
modprobe -a $(cat /early) || echo "run-in-vm: loading early modules failed"
p9() { mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,$1 $2 $3; }
p9 ro,cache=loose host /host && p9 rw job /job && . /job/vars || { echo "run-in-vm: 9p failed"; poweroff -f; }
mount --bind "/host$MODDIR" /lib/modules    # full module tree from the host cache
[ -n "$MODULES" ] && { modprobe -a $MODULES || echo "run-in-vm: modprobe $MODULES failed"; }
mount -t tmpfs -o size=75% mem /mem; mkdir -p /mem/up /mem/work
mount -t overlay -o lowerdir=/host,upperdir=/mem/up,workdir=/mem/work root /newroot
R=/newroot; mkdir -p $R/lib/modules $R/run $R/tmp
mount -t proc proc $R/proc; mount -t sysfs sys $R/sys; mount -t devtmpfs dev $R/dev
mkdir -p $R/dev/pts $R/dev/shm; mount -t devpts pts $R/dev/pts; mount -t tmpfs shm $R/dev/shm
ln -sf /proc/self/fd $R/dev/fd   # bash process substitution (<(...)) needs /dev/fd
mount -t tmpfs run $R/run; mount -t tmpfs tmp $R/tmp; chmod 1777 $R/tmp
mkdir -p $R/run/job $R/run/netns; mount --bind /job $R/run/job
mount --bind /lib/modules $R/lib/modules; mkdir -p "$R$WORKDIR"; p9 rw work "$R$WORKDIR"
[ "$RAW" = 1 ] && stty -onlcr
chroot $R /bin/bash -c '. /run/job/env; cd "$1" && . /run/job/cmd' - "$WORKDIR"
echo $? > /job/rc; sync; echo 0 > /proc/sys/kernel/printk; poweroff -f
EOF
  chmod +x "$ird/init"
  (cd "$ird" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) > "$1"; rm -rf "$ird"
}

have_tools || install_tools
[ -e "$CACHE/current/vmlinuz" ] || install_kernel
K=$(readlink -f "$CACHE/current")
INITRD=$K/initrd-$(md5sum < "$0" | cut -c1-8).gz      # rebuilt when this script changes
[ -e "$INITRD" ] || { make_initrd "$INITRD.tmp" && mv "$INITRD.tmp" "$INITRD"; }

JOB=$(mktemp -d); trap 'rm -rf "$JOB"' EXIT
RAW=1; [ -t 0 ] && [ -t 1 ] && RAW=0   # RAW=1: no terminal, the guest writes bare \n
{
  export -p | grep -vE '^declare -x (PWD|OLDPWD|SHLVL|_|TMPDIR)='
  echo "export BMLB_KERNEL_VM=1 PYTHONDONTWRITEBYTECODE=1"
  printf 'export PYTEST_ADDOPTS=%q\n' "-p no:cacheprovider -p no:hypothesispytest ${PYTEST_ADDOPTS:-}"
  # The guest's console is a tty even when ours is not (CI): no colour codes in a log.
  if [ $RAW = 1 ] && [ -z "${PY_COLORS:-}" ]; then echo "export PY_COLORS=0"; fi
} > "$JOB/env"
printf '%q ' "$@" > "$JOB/cmd"
[ $RAW = 1 ] && exec </dev/null
printf 'MODDIR=%q\nWORKDIR=%q\nMODULES=%q\nRAW=%s\n' "$K/lib/modules" "$PWD" "$MODULES" $RAW > "$JOB/vars"
fs() { echo "-fsdev local,id=$1,path=$2,security_model=none,multidevs=remap${3-} -device virtio-9p-pci,fsdev=$1,mount_tag=$1"; }
ACCEL=${BMLB_VM_ACCEL:-auto}
if [ "$ACCEL" = auto ]; then   # /dev/kvm alone is not enough (e.g. a PVM host without vmx/svm)
  ACCEL=tcg; [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo && ACCEL=kvm
fi
CPU=host; [ "$ACCEL" = tcg ] && { ACCEL=tcg,thread=multi; CPU=max; }
NIC=(-nic none)
[ -n "${BMLB_VM_NET:-}" ] && NIC=(-netdev "$BMLB_VM_NET" -device virtio-net-pci,netdev=n0)
qrc=0
# shellcheck disable=SC2046
timeout --foreground "${BMLB_VM_TIMEOUT:-900}" qemu-system-x86_64 -accel "$ACCEL" -cpu "$CPU" \
  -smp "${BMLB_VM_SMP:-2}" -m "${BMLB_VM_MEM:-2048}" -bios qboot.rom -nographic -no-reboot "${NIC[@]}" \
  -kernel "$K/vmlinuz" -initrd "$INITRD" -append "console=ttyS0 quiet loglevel=3 panic=-1" \
  $(fs host / ,readonly=on) $(fs job "$JOB") $(fs work "$PWD") \
  $([ $RAW = 1 ] && echo "-serial stdio -monitor none" || echo "-serial mon:stdio") || qrc=$?
if [ ! -s "$JOB/rc" ]; then
  [ "$qrc" = 124 ] && { echo "run-in-vm: timed out after ${BMLB_VM_TIMEOUT:-900} s" >&2; exit 124; }
  echo "run-in-vm: VM ended without an exit code (qemu: $qrc)" >&2; exit 125
fi
exit "$(cat "$JOB/rc")"
