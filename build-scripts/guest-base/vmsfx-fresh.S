# vmsfx-fresh [SECONDS[.NANOSECONDS]] HEX
#
# What a resumed guest needs before the app sees it, in one process: the host's clock (when
# SECONDS is not empty), the host's entropy mixed into the pool, and the pool reseeded
# (RNDRESEEDCRNG: writing to /dev/urandom alone was measured not to change what two resumes read).
# The agent ran `date -s` and a separate reseed program for this, and each process busybox's sh
# starts right after a resume costs tens of milliseconds while v86's JIT is cold. Static i386, no
# libc. Exit status: 0, or 1 when a step failed (the others are still done).

	.set SYS_exit, 1
	.set SYS_write, 4
	.set SYS_open, 5
	.set SYS_ioctl, 54
	.set SYS_clock_settime, 264
	.set CLOCK_REALTIME, 0
	.set O_WRONLY, 1
	.set RNDRESEEDCRNG, 0x5207

	.text
	.globl _start
_start:
	xor %ebp, %ebp                 # the exit status
	cmpl $3, (%esp)
	jl failed
	mov 8(%esp), %esi              # SECONDS[.NANOSECONDS]
	cmpb $0, (%esi)
	je entropy
	call digits
	mov %eax, %ebx                 # seconds
	xor %eax, %eax
	cmpb $'.', (%esi)
	jne 1f
	inc %esi
	mov $9, %ecx                   # exactly nine digits of nanoseconds, missing ones are zeros
	call fraction
1:
	push %eax                      # struct timespec { tv_sec, tv_nsec }
	push %ebx
	mov $SYS_clock_settime, %eax
	mov $CLOCK_REALTIME, %ebx
	mov %esp, %ecx
	int $0x80
	add $8, %esp
	test %eax, %eax
	jz entropy
	mov $1, %ebp

entropy:
	mov $SYS_open, %eax
	mov $urandom, %ebx
	mov $O_WRONLY, %ecx
	xor %edx, %edx
	int $0x80
	test %eax, %eax
	js failed
	mov %eax, %edi                 # the pool's fd
	mov 12(%esp), %ecx             # HEX: its text is mixed in as it is (credited nothing)
	xor %edx, %edx
2:
	cmpb $0, (%ecx,%edx)
	je 3f
	inc %edx
	jmp 2b
3:
	mov $SYS_write, %eax
	mov %edi, %ebx
	int $0x80
	mov $SYS_ioctl, %eax
	mov %edi, %ebx
	mov $RNDRESEEDCRNG, %ecx
	xor %edx, %edx
	int $0x80
	test %eax, %eax
	jz done
failed:
	mov $1, %ebp
done:
	mov $SYS_exit, %eax
	mov %ebp, %ebx
	int $0x80

# Decimal digits at %esi to %eax; %esi stops at the first non-digit.
digits:
	xor %eax, %eax
4:
	movzbl (%esi), %edx
	sub $'0', %edx
	cmp $9, %edx
	ja 5f
	imul $10, %eax
	add %edx, %eax
	inc %esi
	jmp 4b
5:
	ret

# %ecx digits at %esi to %eax, padding with zeros where the digits end.
fraction:
	xor %eax, %eax
6:
	imul $10, %eax
	movzbl (%esi), %edx
	sub $'0', %edx
	cmp $9, %edx
	ja 7f
	add %edx, %eax
	inc %esi
	loop 6b
	ret
7:
	loop 6b
	ret

	.section .rodata
urandom:
	.asciz "/dev/urandom"
