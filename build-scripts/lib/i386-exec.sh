# Running i386 programs on this host (sourced, not run; needs lib/host-tools.sh, log() and die()).
# The build runs the guest's own i386 programs: busybox lists its applets, and mmdebstrap runs
# Debian's package scripts in the app's root. An x86-64 kernel with 32-bit support runs them
# natively; a kernel built without it (some cloud and micro-VM kernels) needs qemu-user's static
# i386 emulator registered with binfmt_misc, which is how mmdebstrap builds any foreign
# architecture. Debian's qemu-user-static registers no i386 handler on an x86-64 host (it expects
# the kernel to run i386 itself), so we register one, with the F flag: the kernel opens the
# emulator once, so it also runs inside the chroot mmdebstrap makes.

BINFMT_DIR=/proc/sys/fs/binfmt_misc
BINFMT_NAME=vmsfx-i386
# The i386 ELF header (executables and shared objects), as qemu's binfmt configuration has it.
I386_MAGIC='\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x03\x00'
I386_MASK='\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'

I386_HOW="install qemu-user-static and register it for i386 (as root: apt-get install qemu-user-static; mount -t binfmt_misc binfmt_misc $BINFMT_DIR; printf '%s' ':$BINFMT_NAME:M::$I386_MAGIC:$I386_MASK:/usr/bin/qemu-i386-static:F' > $BINFMT_DIR/register)"

register_i386_binfmt() {
	local qemu
	qemu=$(find_tool qemu-i386-static) || return 1
	[[ -e $BINFMT_DIR/register ]] || as_root mount -t binfmt_misc binfmt_misc "$BINFMT_DIR" || return 1
	if [[ -e $BINFMT_DIR/$BINFMT_NAME ]]; then
		as_root sh -c "echo 1 > $BINFMT_DIR/$BINFMT_NAME"
		return
	fi
	log "this kernel runs no i386 programs: registering qemu-user's $qemu for them (binfmt_misc)"
	as_root sh -c "printf '%s' ':$BINFMT_NAME:M::$I386_MAGIC:$I386_MASK:$qemu:F' > $BINFMT_DIR/register"
}

# ensure_i386_exec <static i386 program that accepts 'true'> — dies when i386 programs cannot run.
ensure_i386_exec() {
	"$1" true >/dev/null 2>&1 && return 0
	can_install || die "this host cannot run i386 programs (its kernel has no 32-bit support), and the build needs to. Either use a kernel with IA32 emulation, or $I386_HOW"
	find_tool qemu-i386-static >/dev/null || install_packages qemu-user-static || die "could not install qemu-user-static; see the messages above"
	register_i386_binfmt || die "could not register qemu-i386-static with binfmt_misc. $I386_HOW"
	"$1" true >/dev/null 2>&1 || die "i386 programs still do not run after registering qemu-i386-static. $I386_HOW"
}
