# vmsfx-exec ROOT DIR UID GID PROG ARGV0 [ARG...]
#
# Starts the app as a real terminal session: a new session whose controlling terminal is its
# standard input (the guest's console), inside the app's root, in its folder, as its user, then
# executes PROG with ARGV0 ARG... and the environment it was given. busybox can do each step but
# not all of them in one process (it has no `setpriv --reuid` and no `chroot --userspec`), and the
# order matters: taking the terminal and changing root need root, so they come before the user
# is dropped. Static i386, no libc: Linux system calls through int 0x80.
#
# Exit status when the app could not be started: 125 (setting up), 126 (PROG cannot be
# executed), 127 (PROG not found), each with a line on standard error.
#
# The session's leader stays behind as a watcher: it forks the app and, when the app has ended,
# tells the launcher on the agent's port how many bytes of typed input the app never read
# (`ended N`, FIONREAD on the console), then exits with the app's status. Only the leader can
# measure that: when it exits the kernel hangs the console up, which discards unread input, so
# once the leader is gone nobody can tell whether piped input was read or lost. The watcher
# ignores the signals of the terminal and of a quit (the agent signals the app itself).

	.set SYS_exit, 1
	.set SYS_fork, 2
	.set SYS_open, 5
	.set SYS_wait4, 114
	.set FIONREAD, 0x541b
	.set O_WRONLY_NOCTTY, 0x101
	.set EINTR, 4
	.set SYS_write, 4
	.set SYS_signal, 48
	.set SYS_chdir, 12
	.set SYS_ioctl, 54
	.set SYS_chroot, 61
	.set SYS_setsid, 66
	.set SYS_execve, 11
	.set SYS_setuid32, 213
	.set SYS_setgid32, 214
	.set SYS_setgroups32, 206
	.set TIOCSCTTY, 0x540e
	.set ENOENT, 2

	.text
	.globl _start
_start:
	mov (%esp), %ecx
	cmp $6, %ecx
	jl setup_failed
	lea 4(%esp), %esi              # argv
	lea 8(%esp,%ecx,4), %edi       # envp, after argv's NULL

	# An app started in the background of a shell script inherits SIGINT and SIGQUIT ignored
	# (POSIX), so Ctrl-C would not reach it: every catchable signal goes back to its default.
	mov $1, %ebx
0:
	mov $SYS_signal, %eax
	xor %ecx, %ecx
	int $0x80
	inc %ebx
	cmp $32, %ebx
	jb 0b

	mov $SYS_setsid, %eax          # fails only for a group leader, which the agent never starts
	int $0x80
	mov $SYS_ioctl, %eax           # take the console; 1 = even from another session
	xor %ebx, %ebx
	mov $TIOCSCTTY, %ecx
	mov $1, %edx
	int $0x80                      # not a terminal (a test harness): run without one

	mov $SYS_fork, %eax
	int $0x80
	test %eax, %eax
	jg watch                       # the leader watches; without a fork the app runs unwatched

	mov $SYS_chroot, %eax
	mov 4(%esi), %ebx
	int $0x80
	test %eax, %eax
	jnz setup_failed
	mov $SYS_chdir, %eax
	mov 8(%esi), %ebx
	int $0x80
	test %eax, %eax
	jz 1f
	mov $SYS_chdir, %eax           # a missing folder: start in / as Docker does not, but runc does
	mov $slash, %ebx
	int $0x80
1:
	mov 16(%esi), %ebx             # GID
	call atoi
	push %eax
	mov $SYS_setgroups32, %eax     # the primary group only: drop root's supplementary groups
	mov $1, %ebx
	mov %esp, %ecx
	int $0x80
	test %eax, %eax
	jnz setup_failed
	mov $SYS_setgid32, %eax
	mov (%esp), %ebx
	int $0x80
	test %eax, %eax
	jnz setup_failed
	mov 12(%esi), %ebx             # UID
	call atoi
	mov %eax, %ebx
	mov $SYS_setuid32, %eax
	int $0x80
	test %eax, %eax
	jnz setup_failed

	mov $SYS_execve, %eax
	mov 20(%esi), %ebx
	lea 24(%esi), %ecx
	mov %edi, %edx
	int $0x80
	cmp $-ENOENT, %eax
	je not_found
	mov $cannot_exec, %ecx
	mov $cannot_exec_len, %edx
	mov $126, %ebx
	jmp say_and_exit
not_found:
	mov $no_such, %ecx
	mov $no_such_len, %edx
	mov $127, %ebx
	jmp say_and_exit
setup_failed:
	mov $no_setup, %ecx
	mov $no_setup_len, %edx
	mov $125, %ebx
say_and_exit:
	push %ebx
	mov $SYS_write, %eax
	mov $2, %ebx
	int $0x80
	pop %ebx
	mov $SYS_exit, %eax
	int $0x80

# The session's leader: %eax is the app's pid.
watch:
	mov %eax, %ebp
	mov $ignored, %esi
4:
	movzbl (%esi), %ebx
	test %ebx, %ebx
	jz 5f
	mov $SYS_signal, %eax
	mov $1, %ecx                   # SIG_IGN
	int $0x80
	inc %esi
	jmp 4b
5:
	sub $48, %esp                  # 0: wait status, 4: unread bytes, 8..47: the line
6:
	mov $SYS_wait4, %eax
	mov %ebp, %ebx
	mov %esp, %ecx
	xor %edx, %edx
	xor %esi, %esi
	int $0x80
	cmp $-EINTR, %eax
	je 6b
	test %eax, %eax
	js lost_app
	mov $SYS_ioctl, %eax
	xor %ebx, %ebx
	mov $FIONREAD, %ecx
	lea 4(%esp), %edx
	int $0x80
	test %eax, %eax
	jnz exit_as_app                # not a terminal: nothing to tell
	lea 47(%esp), %edi             # "ended N\n", built from its end
	movb $'\n', (%edi)
	mov 4(%esp), %eax
	mov $10, %ecx
7:
	xor %edx, %edx
	div %ecx
	add $'0', %dl
	dec %edi
	mov %dl, (%edi)
	test %eax, %eax
	jnz 7b
	sub $6, %edi
	mov ended, %eax
	mov %eax, (%edi)
	movw ended+4, %ax
	movw %ax, 4(%edi)
	mov $SYS_open, %eax
	mov $agent_port, %ebx
	mov $O_WRONLY_NOCTTY, %ecx
	xor %edx, %edx
	int $0x80
	test %eax, %eax
	js exit_as_app
	mov %eax, %ebx
	mov $SYS_write, %eax
	mov %edi, %ecx
	lea 48(%esp), %edx
	sub %edi, %edx
	int $0x80
exit_as_app:                       # the status a shell's wait would give: N, or 128 + signal
	mov (%esp), %eax
	mov %eax, %ebx
	and $0x7f, %ebx
	jz 8f
	add $128, %ebx
	jmp 9f
8:
	shr $8, %eax
	movzbl %al, %ebx
9:
	mov $SYS_exit, %eax
	int $0x80
lost_app:
	mov $125, %ebx
	mov $SYS_exit, %eax
	int $0x80

# Decimal string at %ebx to %eax; stops at the first non-digit.
atoi:
	xor %eax, %eax
2:
	movzbl (%ebx), %ecx
	sub $'0', %ecx
	cmp $9, %ecx
	ja 3f
	imul $10, %eax
	add %ecx, %eax
	inc %ebx
	jmp 2b
3:
	ret

	.section .rodata
# SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGTSTP, SIGTTIN, SIGTTOU
ignored:
	.byte 1, 2, 3, 15, 20, 21, 22, 0
ended:
	.ascii "ended "
agent_port:
	.asciz "/dev/ttyS1"
slash:
	.asciz "/"
no_setup:
	.ascii "vmsfx: could not set up the app's session (root, user or terminal)\n"
	.set no_setup_len, . - no_setup
cannot_exec:
	.ascii "vmsfx: the app's program cannot be executed\n"
	.set cannot_exec_len, . - cannot_exec
no_such:
	.ascii "vmsfx: the app's program was not found in its file system\n"
	.set no_such_len, . - no_such
