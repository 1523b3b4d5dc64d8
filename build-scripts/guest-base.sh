#!/usr/bin/env bash
# Build the guest base every app made with `vmsfx build` runs on: Debian's i386 kernel, SeaBIOS,
# and an initramfs holding busybox, the base's /init, the guest agent (protocol 2) and the
# session helper, plus the modules for ext4 disks and the overlay root.
#
#   bash build-scripts/guest-base.sh CACHE_DIR      (prints the base's folder on stdout)
#
# The base goes to CACHE_DIR/<hash of its inputs>/: vmlinuz, initrd.img, bios.bin, vgabios.bin,
# busybox (the static i386 binary, for apps whose root is busybox alone), busybox.applets and
# inputs.sha256. A second run with the same inputs does nothing, and two vmsfx versions (or
# checkouts) with different bases never replace each other's. The .debs are cached in the user's
# download cache (lib/host-tools.sh).
#
# Environment: SOURCE_DATE_EPOCH (default 2024-01-01) for reproducible bytes.
set -euo pipefail

log() { printf 'guest-base: %s\n' "$*" >&2; }
die() { printf 'guest-base: error: %s\n' "$*" >&2; exit 1; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/guest-debs.sh
source "$HERE/lib/guest-debs.sh"
# shellcheck source=lib/i386-exec.sh
source "$HERE/lib/i386-exec.sh"

[[ $# -eq 1 ]] || die "usage: bash build-scripts/guest-base.sh CACHE_DIR"
CACHE_DIR=$1
DEB_DIR=$(download_cache)/debs
GUEST=$HERE/guest-base
: "${SOURCE_DATE_EPOCH:=1704067200}"
[[ $SOURCE_DATE_EPOCH =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH must be a number of seconds"

# The app's root is a read-only ext4 disk under a RAM overlay; an app with ports has a virtio NIC.
MODULES=("${DISK_MODULES[@]}" overlay "${NET_MODULES[@]}")

fetch_base_debs
ensure_tool cpio cpio
ensure_tool as binutils
ensure_tool ld binutils

DIGEST=$({
	cat "$0" "$HERE/lib/guest-debs.sh" | sha256sum
	cat "$GUEST/init" "$GUEST/vmsfx-agent" "$GUEST/vmsfx-exec.S" "$GUEST/vmsfx-fresh.S" | sha256sum
	printf '%s\n' "${KERNEL_DEB##*/}" "${BUSYBOX_DEB##*/}" "${SEABIOS_DEB##*/}" "${MODULES[@]}" "epoch=$SOURCE_DATE_EPOCH"
	as --version | head -n 1
} | sha256sum | cut -d ' ' -f 1)
OUT_DIR=$CACHE_DIR/${DIGEST:0:16}
if [[ -f $OUT_DIR/inputs.sha256 && $(<"$OUT_DIR/inputs.sha256") == "$DIGEST" ]]; then
	# Apps from Debian packages run i386 programs next (a registration does not survive a reboot).
	ensure_i386_exec "$OUT_DIR/busybox"
	log "$OUT_DIR is up to date"
	printf '%s\n' "$OUT_DIR"
	exit 0
fi

mkdir -p "$CACHE_DIR"
WORK=$(mktemp -d "$CACHE_DIR/.guest-base.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
EXTRACT=$WORK/extract STAGE=$WORK/out INITRD=$WORK/initrd
mkdir -p "$EXTRACT" "$STAGE" "$INITRD"
unpack_base_debs "$EXTRACT" "$STAGE"

mkdir -p "$INITRD"/{bin,dev,proc,sys,tmp,run,etc,vmsfx/lower,vmsfx/rw,vmsfx/root,vmsfx/data}
cp "$EXTRACT/bin/busybox" "$INITRD/bin/busybox"
# The kernel runs /init through its #! line before /init makes the applet links.
ln -s busybox "$INITRD/bin/sh"
cp "$GUEST/init" "$INITRD/init"
cp "$GUEST/vmsfx-agent" "$INITRD/bin/vmsfx-agent"
as --32 -o "$WORK/vmsfx-exec.o" "$GUEST/vmsfx-exec.S"
ld -m elf_i386 -s --build-id=none -o "$INITRD/bin/vmsfx-exec" "$WORK/vmsfx-exec.o"
as --32 -o "$WORK/vmsfx-fresh.o" "$GUEST/vmsfx-fresh.S"
ld -m elf_i386 -s --build-id=none -o "$INITRD/bin/vmsfx-fresh" "$WORK/vmsfx-fresh.o"
stage_modules "$INITRD" "${MODULES[@]}"
chmod -R u=rwX,go=rX "$INITRD"
chmod 0755 "$INITRD/init" "$INITRD"/bin/*
chmod 1777 "$INITRD/tmp"
pack_initrd "$INITRD" "$STAGE/initrd.img"

cp "$EXTRACT/bin/busybox" "$STAGE/busybox"
ensure_i386_exec "$STAGE/busybox"
# The applets of a busybox-only root are links made at build time; this static i386 binary runs
# on any x86-64 Linux host (the build host runs the guest's i386 package scripts anyway).
"$STAGE/busybox" --list-full >"$STAGE/busybox.applets" || die "could not run the i386 busybox on this host. $I386_HOW"
printf '%s\n' "$DIGEST" >"$STAGE/inputs.sha256"

# A concurrent build of the same inputs may have finished first: its result is the same bytes.
mv -T "$STAGE" "$OUT_DIR" 2>/dev/null || [[ -f $OUT_DIR/inputs.sha256 ]] || die "could not move the base into $OUT_DIR"
log "built $OUT_DIR ($(du -sh "$OUT_DIR" | cut -f1))"
printf '%s\n' "$OUT_DIR"
