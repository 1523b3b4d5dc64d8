# The Debian i386 parts every vmsfx guest is made of (sourced, not run): the kernel, busybox and
# SeaBIOS .debs, cached in the user's download cache, and the steps that turn them into a kernel,
# BIOS images and an initramfs with the modules a guest needs. Used by guest-base.sh (the base
# every app built with `vmsfx build` runs on). The caller defines log() and die() and sets DEB_DIR.

# shellcheck source=apt-debs.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt-debs.sh"

# Debian 12's 686 (non-PAE) flavour: v86 emulates a 32-bit CPU without PAE.
KERNEL_FLAVOUR=686
KERNEL_META=linux-image-$KERNEL_FLAVOUR

# Kernel modules the guest needs to mount ext4 disks on v86's IDE (ata_piix) controller, in load
# order. Checked against each module's "depends=" when staged, so a new kernel that needs more
# fails the build instead of the boot. The *_generic crypto drivers are loaded before crc-t10dif
# and crc64-rocksoft so those find their algorithm at once rather than via a failing modprobe
# request. crc32c-intel needs SSE4.2, which v86 does not emulate; the trailing "?" tells /init a
# failure there is expected.
DISK_MODULES=(
	'crc32c-intel?' crc32c_generic
	scsi_common scsi_mod libata ata_piix
	crc64 crct10dif_common crct10dif_generic crc-t10dif
	crc64_rocksoft_generic crc64-rocksoft t10-pi sd_mod
	crc16 mbcache jbd2 ext4
)
# v86's virtio network card (apps with "ports"); loaded on every guest, used where the card is.
NET_MODULES=(
	virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
	failover net_failover virtio_net
)

# Newest cached .deb matching a glob, or nothing.
cached_deb() {
	compgen -G "$DEB_DIR/$1" | sort -V | tail -n 1 || true
}

# The kernel and busybox are i386 packages; on other hosts apt only sees them once i386 is a
# foreign architecture.
ensure_i386_arch() {
	command -v apt-get >/dev/null || die "apt-get not found: this needs a Debian-based host, or the .debs placed in $DEB_DIR/ beforehand"
	if [[ $(dpkg --print-architecture) != i386 ]] && ! dpkg --print-foreign-architectures | grep -qx i386; then
		can_install || die "apt needs the i386 architecture to download the guest's packages, and adding it needs root: run 'sudo dpkg --add-architecture i386 && sudo apt-get update', or place the .debs in $DEB_DIR/ beforehand"
		log "enabling the i386 architecture in dpkg (dpkg --add-architecture i386)"
		as_root dpkg --add-architecture i386
		apt_updated=0
		apt_update_once
	fi
	if ! apt-cache show "$KERNEL_META:i386" >/dev/null 2>&1; then
		apt_update_once
		apt-cache show "$KERNEL_META:i386" >/dev/null 2>&1 ||
			die "apt does not know $KERNEL_META:i386; is a Debian 12 (bookworm) main repository configured?"
	fi
}

# Sets KERNEL_DEB, BUSYBOX_DEB and SEABIOS_DEB, downloading what the cache lacks.
fetch_base_debs() {
	mkdir -p "$DEB_DIR"
	KERNEL_DEB=$(cached_deb "linux-image-*-$KERNEL_FLAVOUR-unsigned_*_i386.deb")
	BUSYBOX_DEB=$(cached_deb 'busybox-static_*_i386.deb')
	SEABIOS_DEB=$(cached_deb 'seabios_*_all.deb')
	if [[ -n $KERNEL_DEB && -n $BUSYBOX_DEB && -n $SEABIOS_DEB ]]; then
		log "using cached packages in $DEB_DIR"
		return
	fi
	ensure_i386_arch
	local wanted=() signed
	if [[ -z $KERNEL_DEB ]]; then
		# The metapackage depends on the signed image of the current ABI
		# (linux-image-6.1.0-NN-686); the -unsigned package of that name holds the same kernel
		# without the Secure Boot packaging.
		signed=$(apt-cache depends "$KERNEL_META:i386" |
			sed -n "s/^ *Depends: \(linux-image-[0-9][^:]*-$KERNEL_FLAVOUR\)\(:i386\)\{0,1\}$/\1/p" | head -n 1)
		[[ -n $signed ]] || die "could not find the current kernel ABI from 'apt-cache depends $KERNEL_META:i386'"
		apt-cache show "$signed-unsigned:i386" >/dev/null 2>&1 || die "apt does not know $signed-unsigned:i386"
		log "current Debian kernel: $signed-unsigned"
		wanted+=("$signed-unsigned:i386")
	fi
	[[ -n $BUSYBOX_DEB ]] || wanted+=(busybox-static:i386)
	[[ -n $SEABIOS_DEB ]] || wanted+=(seabios)
	download_debs "$DEB_DIR" "${wanted[@]}"
	KERNEL_DEB=$(cached_deb "linux-image-*-$KERNEL_FLAVOUR-unsigned_*_i386.deb")
	BUSYBOX_DEB=$(cached_deb 'busybox-static_*_i386.deb')
	SEABIOS_DEB=$(cached_deb 'seabios_*_all.deb')
	[[ -n $KERNEL_DEB && -n $BUSYBOX_DEB && -n $SEABIOS_DEB ]] || die "expected .debs are still missing from $DEB_DIR after downloading"
}

# unpack_base_debs <extract-dir> <stage-dir>: the kernel and BIOS images into <stage-dir>; sets
# KVER and MODDIR (the kernel's modules, inside <extract-dir>).
unpack_base_debs() {
	local extract=$1 stage=$2 deb d kernels
	for deb in "$KERNEL_DEB" "$BUSYBOX_DEB" "$SEABIOS_DEB"; do
		log "unpacking $(basename "$deb")"
		dpkg-deb -x "$deb" "$extract"
	done
	kernels=("$extract"/boot/vmlinuz-*)
	[[ ${#kernels[@]} -eq 1 && -f ${kernels[0]} ]] || die "expected exactly one /boot/vmlinuz-* in $(basename "$KERNEL_DEB")"
	KVER=${kernels[0]##*/vmlinuz-}
	MODDIR=
	for d in "$extract/lib/modules/$KVER" "$extract/usr/lib/modules/$KVER"; do
		[[ -d $d ]] && MODDIR=$d
	done
	[[ -n $MODDIR ]] || die "no modules folder for kernel $KVER in $(basename "$KERNEL_DEB")"
	[[ -x $extract/bin/busybox ]] || die "no /bin/busybox in $(basename "$BUSYBOX_DEB")"
	log "kernel $KVER"
	cp "${kernels[0]}" "$stage/vmlinuz"
	# v86 loads SeaBIOS for a cold boot and the plain VGA BIOS for its stdvga card.
	cp "$extract/usr/share/seabios/bios.bin" "$stage/bios.bin"
	cp "$extract/usr/share/seabios/vgabios-stdvga.bin" "$stage/vgabios.bin"
}

# stage_modules <initrd-dir> <module>...: copies the modules, uncompressed, into
# <initrd-dir>/lib/modules and writes their load order there, checking each one's dependencies.
stage_modules() {
	local initrd=$1 f name entry mod key src dst deps dep
	shift
	mkdir -p "$initrd/lib/modules"
	# Index modules by their kernel name: "-" and "_" are interchangeable there, and newer
	# Debian kernels ship them compressed.
	declare -A module_files=() loaded=()
	while IFS= read -r -d '' f; do
		name=${f##*/}
		name=${name%%.ko*}
		module_files[${name//-/_}]=$f
	done < <(find "$MODDIR/kernel" \( -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz' \) -print0)
	: >"$initrd/lib/modules/load-order"
	for entry in "$@"; do
		mod=${entry%'?'}
		key=${mod//-/_}
		src=${module_files[$key]:-}
		[[ -n $src ]] || die "kernel $KVER has no module '$mod' (is it built in now? then drop it from the module list)"
		dst=$initrd/lib/modules/$mod.ko
		# busybox insmod cannot be relied on to decompress; store them plain.
		case "$src" in
			*.ko) cp "$src" "$dst" ;;
			*.ko.xz) xz -dc "$src" >"$dst" ;;
			*.ko.zst) zstd -qdc "$src" >"$dst" ;;
			*.ko.gz) gzip -dc "$src" >"$dst" ;;
		esac
		deps=$(tr '\0' '\n' <"$dst" | sed -n 's/^depends=//p' | head -n 1)
		for dep in ${deps//,/ }; do
			[[ -n ${loaded[${dep//-/_}]:-} ]] || die "module $mod depends on $dep, which is not loaded before it; fix the module list"
		done
		loaded[$key]=1
		printf '%s\n' "$entry" >>"$initrd/lib/modules/load-order"
	done
	log "initrd modules: $*"
}

# pack_initrd <initrd-dir> <out>: fixed owners, modes and times, sorted entries, so the same
# inputs give the same initrd bytes.
pack_initrd() {
	local initrd=$1 out=$2
	find "$initrd" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	(cd "$initrd" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
		cpio --null --create --format=newc --owner=0:0 --reproducible --quiet) |
		gzip -9 -n >"$out"
}
