#!/usr/bin/env bash
# Build a vmsfx sample guest from Debian i386 packages.
#
#   bash build-scripts/build-sample.sh [shell]    (npm run sample)
#   bash build-scripts/build-sample.sh python     (npm run sample -- python)
#
# Output goes to .cache/samples/<name>/ (kernel, initrd, BIOS images, data
# disk), which samples/<name>/vm.json points at. Downloaded .debs are kept in
# the user's cache, ~/.cache/vmsfx/debs/ (see lib/host-tools.sh), shared by
# every checkout; once all of them are there this script works offline and
# never touches apt. Delete that folder to pick up newer Debian packages.
#
# Nothing is installed on the host except, if missing, the cpio, e2fsprogs and
# binutils tools (lib/host-tools.sh); packages are unpacked with dpkg-deb -x and the disk image is made
# with mke2fs -d, so building the guest itself needs no root.
#
# Environment:
#   SOURCE_DATE_EPOCH  timestamp for every file in the initrd and disk image
#                      (default: a fixed date, so rebuilds are byte-identical)
set -euo pipefail

log() { printf 'build-sample: %s\n' "$*" >&2; }
die() { printf 'build-sample: error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=lib/apt-debs.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/guest-debs.sh"

usage="usage: bash build-scripts/build-sample.sh [shell|python]"
[[ $# -le 1 ]] || die "$usage"
SAMPLE=${1:-shell}
# Per sample: the data disk's size and (fixed, for reproducible bytes) UUID, and the Debian
# packages unpacked onto it besides the sample's own disk/ folder.
ROOTFS_PACKAGES=()
case "$SAMPLE" in
	shell)
		DISK_SIZE=64M
		DISK_UUID=9a1f4c2e-5b7d-4e08-8c3a-76d6d5f10001
		;;
	python)
		DISK_SIZE=128M
		DISK_UUID=9a1f4c2e-5b7d-4e08-8c3a-76d6d5f10002
		# python3 and every library it or a kept extension module links against; checked
		# against each ELF file's NEEDED entries below, so a package that starts to need
		# another library fails the build instead of an import in the guest.
		ROOTFS_PACKAGES=(
			python3-minimal python3.11-minimal libpython3.11-minimal libpython3.11-stdlib
			libc6 libgcc-s1 libexpat1 zlib1g libffi8 libbz2-1.0 liblzma5 libuuid1
			libsqlite3-0 libcrypt1
		)
		# Left out, with the libraries only they need: TLS and OpenSSL hashes (the guest
		# has no network; hashlib falls back to its built-in algorithms), curses and
		# readline (a serial console has no terminal database; without readline the REPL
		# reads plain lines from the tty, and emits no escape sequences into piped
		# output), dbm and NIS. sitecustomize.py is a link to /etc (an apport hook).
		# gconv (8 MiB of iconv charsets) is unused by Python's own codecs.
		ROOTFS_DROP=(
			usr/share/doc usr/share/man usr/share/lintian usr/share/binfmts etc
			usr/lib/i386-linux-gnu/gconv usr/lib/python3.11/sitecustomize.py
			usr/lib/python3.11/lib-dynload/{_ssl,_hashlib,_curses,_curses_panel,readline,_dbm,nis}.cpython-311-i386-linux-gnu.so
		)
		;;
	*) die "unknown sample '$SAMPLE' (known samples: shell, python)" ;;
esac

SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
REPO_ROOT=$(cd "$(dirname "$SCRIPT_PATH")/.." && pwd)
cd "$REPO_ROOT"

SRC_DIR=samples/$SAMPLE
DEB_DIR=$(download_cache)/debs
OUT_PARENT=.cache/samples
OUT_DIR=$OUT_PARENT/$SAMPLE
[[ -f $SRC_DIR/init && -d $SRC_DIR/disk ]] || die "$SRC_DIR/init or $SRC_DIR/disk/ is missing"

: "${SOURCE_DATE_EPOCH:=1704067200}" # 2024-01-01T00:00:00Z
[[ $SOURCE_DATE_EPOCH =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH must be a number of seconds, got '$SOURCE_DATE_EPOCH'"

ARTIFACTS=(vmlinuz initrd.img bios.bin vgabios.bin disk.img)

mkdir -p "$DEB_DIR" "$OUT_PARENT"

# Two builds at once would race on the final rename; serialise them.
if command -v flock >/dev/null; then
	exec 9>"$OUT_PARENT/.$SAMPLE.lock"
	flock 9
fi

fetch_base_debs

# The sample's own packages, cached the same way. "<name>_" globs never mix up libc6 and
# libc6-dev.
ROOTFS_DEBS=()
missing=()
for pkg in "${ROOTFS_PACKAGES[@]}"; do
	[[ -n $(cached_deb "${pkg}_*_i386.deb") ]] || missing+=("$pkg:i386")
done
if ((${#missing[@]})); then
	ensure_i386_arch
	download_debs "$DEB_DIR" "${missing[@]}"
fi
for pkg in "${ROOTFS_PACKAGES[@]}"; do
	deb=$(cached_deb "${pkg}_*_i386.deb")
	[[ -n $deb ]] || die "$pkg:i386 is still missing from $DEB_DIR after downloading"
	ROOTFS_DEBS+=("$deb")
done
# python3.11-minimal, libpython3.11-minimal and -stdlib depend on each other's exact version; a
# cache refreshed in part would mix two.
py_versions=$(printf '%s\n' "${ROOTFS_DEBS[@]##*/}" | sed -n 's/^\(lib\)\{0,1\}python3\.[0-9]*-[a-z]*_\([^_]*\)_.*/\2/p' | sort -u)
(($(printf '%s' "$py_versions" | grep -c .) <= 1)) ||
	die "cached python3.11 packages have different versions ($(echo $py_versions)); delete them from $DEB_DIR and rerun"

# --- skip the build when nothing changed ------------------------------------

ensure_tool mke2fs e2fsprogs

# Everything that shapes the output: this script (module list, options), the
# guest's /init, the disk contents, the exact .debs and the mke2fs version.
inputs_digest() {
	{
		sha256sum <"$SCRIPT_PATH"
		sha256sum <"$(dirname "$SCRIPT_PATH")/lib/guest-debs.sh"
		sha256sum <"$SRC_DIR/init"
		sha256sum <"$SRC_DIR/vmsfx-agent"
		printf '%s\n' "$(basename "$KERNEL_DEB")" "$(basename "$BUSYBOX_DEB")" "$(basename "$SEABIOS_DEB")"
		printf '%s\n' "${ROOTFS_DEBS[@]##*/}"
		printf 'epoch=%s\n' "$SOURCE_DATE_EPOCH"
		mke2fs -V 2>&1 | head -n 1
		(cd "$SRC_DIR/disk" && find . -print0 | LC_ALL=C sort -z | while IFS= read -r -d '' f; do
			if [[ -f $f && ! -L $f ]]; then printf '%s %s\n' "$f" "$(sha256sum <"$f")"
			else printf '%s %s\n' "$f" "$(stat -c '%F' "$f")"; fi
		done)
	} | sha256sum | cut -d ' ' -f 1
}
DIGEST=$(inputs_digest)
STAMP=$OUT_DIR/.inputs-sha256

up_to_date=1
[[ -f $STAMP && $(<"$STAMP") == "$DIGEST" ]] || up_to_date=0
for a in "${ARTIFACTS[@]}"; do [[ -f $OUT_DIR/$a ]] || up_to_date=0; done
if ((up_to_date)); then
	log "$OUT_DIR is up to date"
	exit 0
fi

ensure_tool cpio cpio
ensure_tool debugfs e2fsprogs
command -v dpkg-deb >/dev/null || die "dpkg-deb not found (package dpkg)"
((${#ROOTFS_DEBS[@]} == 0)) || ensure_tool readelf binutils

# --- the disk's /usr tree (samples with ROOTFS_PACKAGES) ---------------------

# Unpacks the packages into <root>, merges /lib into /usr/lib as Debian's usrmerge does, drops
# ROOTFS_DROP, and checks that every ELF file finds the libraries and dynamic linker it names.
build_rootfs() {
	local root=$1 deb f lib interp bad=()
	for deb in "${ROOTFS_DEBS[@]}"; do
		dpkg-deb -x "$deb" "$root"
	done
	if [[ -d $root/lib ]]; then
		cp -a "$root/lib/." "$root/usr/lib/"
		rm -rf "$root/lib"
	fi
	for f in "${ROOTFS_DROP[@]}"; do
		[[ -e $root/$f || -L $root/$f ]] || die "ROOTFS_DROP names $f, which no package has any more; update $0"
		rm -rf "${root:?}/$f"
	done
	# The tree is mounted at /mnt in the guest, where an absolute link would point elsewhere.
	while IFS= read -r -d '' f; do
		[[ $(readlink "$f") != /* ]] || bad+=("${f#"$root"} -> $(readlink "$f")")
	done < <(find "$root" -type l -print0)
	((${#bad[@]} == 0)) || die "absolute symlinks in the $SAMPLE tree (drop or rewrite them): ${bad[*]}"
	local libdir=$root/usr/lib/i386-linux-gnu
	while IFS= read -r -d '' f; do
		readelf -h "$f" >/dev/null 2>&1 || continue
		for lib in $(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
			[[ -e $libdir/$lib ]] || bad+=("${f#"$root"} needs $lib")
		done
		interp=$(readelf -l "$f" | sed -n 's/.*Requesting program interpreter: \(.*\)\]$/\1/p')
		[[ -z $interp || ($interp == /lib/ld-linux.so.2 && -e $libdir/ld-linux.so.2) ]] || bad+=("${f#"$root"} asks for $interp")
	done < <(find "$root" -type f \( -name '*.so' -o -name '*.so.*' -o -perm -u+x \) -print0)
	((${#bad[@]} == 0)) || die "$(printf '%s\n' "missing libraries in the $SAMPLE tree; add their packages to ROOTFS_PACKAGES or the modules to ROOTFS_DROP:" "${bad[@]}")"
	log "$SAMPLE tree: $(find "$root" -type f | wc -l) files, $(du -sh "$root" | cut -f1), every ELF file's libraries present"
}

# --- build in a scratch folder next to the output ----------------------------

WORK=$(mktemp -d "$OUT_PARENT/.$SAMPLE.build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
EXTRACT=$WORK/extract
STAGE=$WORK/out
INITRD=$WORK/initrd
mkdir -p "$EXTRACT" "$STAGE" "$INITRD"

unpack_base_debs "$EXTRACT" "$STAGE"

# --- initrd ---------------------------------------------------------------

mkdir -p "$INITRD"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,mnt,tmp,root,etc,lib/modules}
cp "$EXTRACT/bin/busybox" "$INITRD/bin/busybox"
# The kernel runs /init through its #! line before /init can make the other
# applet links, so /bin/sh has to exist already.
ln -s busybox "$INITRD/bin/sh"
cp "$SRC_DIR/init" "$INITRD/init"
# The guest agent (docs/guest-agent.md), started by /init.
cp "$SRC_DIR/vmsfx-agent" "$INITRD/bin/vmsfx-agent"

stage_modules "$INITRD" "${DISK_MODULES[@]}"

# A disk with a Debian /usr tree is mounted at /mnt by /init; programs from it find the dynamic
# linker and their libraries at the usual /lib paths through these links.
if ((${#ROOTFS_DEBS[@]})); then
	ln -s /mnt/usr/lib/i386-linux-gnu "$INITRD/lib/i386-linux-gnu"
	ln -s /mnt/usr/lib/i386-linux-gnu/ld-linux.so.2 "$INITRD/lib/ld-linux.so.2"
fi

chmod -R u=rwX,go=rX "$INITRD"
chmod 0755 "$INITRD/init" "$INITRD/bin/busybox" "$INITRD/bin/vmsfx-agent"
chmod 1777 "$INITRD/tmp"
pack_initrd "$INITRD" "$STAGE/initrd.img"

# --- data disk ---------------------------------------------------------------

DISK_SRC=$WORK/disk
mkdir "$DISK_SRC"
if ((${#ROOTFS_DEBS[@]})); then
	build_rootfs "$DISK_SRC"
fi
cp -R "$SRC_DIR/disk/." "$DISK_SRC/"
chmod -R u=rwX,go=rX "$DISK_SRC"
find "$DISK_SRC" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
# lazy_*_init=0: have mke2fs initialise inode tables and journal now, so the
# guest kernel does not start zeroing them in the background (those writes
# would land in every snapshot). E2FSPROGS_FAKE_TIME pins the superblock
# times; -U and hash_seed pin the remaining random fields.
log "making the $DISK_SIZE ext4 data disk from $SRC_DIR/disk/"
# Pre-sizing the (sparse) file keeps mke2fs from announcing that it creates it.
truncate -s "$DISK_SIZE" "$STAGE/disk.img"
E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH mke2fs -q -t ext4 -L vmsfx-data \
	-U "$DISK_UUID" \
	-E "root_owner=0:0,hash_seed=$DISK_UUID,lazy_itable_init=0,lazy_journal_init=0" \
	-d "$DISK_SRC" "$STAGE/disk.img" >&2 ||
	die "mke2fs failed (it needs e2fsprogs >= 1.43 for -d)"
# mke2fs -d copies each file's ctime, which no one can set on the host, and
# its owner (root_owner only covers the top folder), which depends on who
# builds; pin both afterwards with debugfs (same e2fsprogs package).
(cd "$DISK_SRC" && find . -mindepth 1 | LC_ALL=C sort | while IFS= read -r f; do
	[[ $f != *'"'* ]] || die "file names with double quotes are not supported in $SRC_DIR/disk/: $f"
	printf 'sif "%s" %s\n' "${f#.}" "ctime @$SOURCE_DATE_EPOCH" "${f#.}" "uid 0" "${f#.}" "gid 0"
done) >"$WORK/debugfs.cmds"
# debugfs reports failed requests on stderr but still exits 0.
E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH debugfs -w -f "$WORK/debugfs.cmds" "$STAGE/disk.img" >/dev/null 2>"$WORK/debugfs.log" || true
if grep -v '^debugfs [0-9]' "$WORK/debugfs.log" | grep -q .; then
	die "debugfs could not set file times and owners in disk.img: $(grep -v '^debugfs [0-9]' "$WORK/debugfs.log")"
fi

printf '%s\n' "$DIGEST" >"$STAGE/.inputs-sha256"

# --- publish -----------------------------------------------------------------

# Two renames on one filesystem: readers see the old complete set or the new
# one (the scratch folder, old output included, goes away with the trap).
if [[ -e $OUT_DIR ]]; then
	mv "$OUT_DIR" "$WORK/previous"
fi
mv "$STAGE" "$OUT_DIR"

for a in "${ARTIFACTS[@]}"; do
	log "$(printf '%-12s %10s bytes' "$a" "$(stat -c %s "$OUT_DIR/$a")")"
done
log "built $OUT_DIR"
