"""A seccomp filter that stops a process, and everything it later becomes, from creating processes.

Installed by the sandboxed grading processes on themselves (the package child before it imports student code,
the notebook kernel before it runs a cell), it is the sandbox's answer to fork bombs and to daemons that would
outlive a student's grading: ``fork``, ``vfork`` and a ``clone`` without ``CLONE_THREAD`` fail with ``EPERM``;
``clone3`` (whose flags sit in memory, where a filter cannot read them) fails with ``ENOSYS``, so the C library
falls back to ``clone`` for threads. Threads stay possible (NumPy and the kernel need them); their number is
bounded by the address-space limit. It also refuses the calls that would let code leave its namespaces or watch
other processes: ``unshare``, ``setns``, ``mount``, ``ptrace``, ``process_vm_readv``/``writev``.

Nothing here is a secret and nothing is decided by Python once installed: the kernel enforces it, and
``PR_SET_NO_NEW_PRIVS`` makes it permanent across ``execve``.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct

# <linux/audit.h>, <linux/seccomp.h>, <linux/filter.h>
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_KILL_PROCESS = 0x80000000
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
CLONE_THREAD = 0x00010000
BPF_LD_W_ABS, BPF_JEQ_K, BPF_JSET_K, BPF_RET_K = 0x20, 0x15, 0x45, 0x06

#: Syscall numbers by architecture: (refused with EPERM, refused with ENOSYS, clone).
SYSCALLS = {
    # fork, vfork, unshare, setns, mount, ptrace, process_vm_readv, process_vm_writev; clone3; clone
    "x86_64": ((57, 58, 272, 308, 165, 101, 310, 311), (435,), 56),
    # aarch64 has no fork or vfork: glibc forks with clone
    "aarch64": ((97, 268, 40, 117, 270, 271), (435,), 220),
}


def _instruction(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def program(machine: str) -> bytes:
    """The filter for ``machine`` (``platform.machine()``), as the bytes of a ``struct sock_filter`` array."""
    refused, missing, clone = SYSCALLS[machine]
    code = [_instruction(BPF_LD_W_ABS, 0, 0, 4),                       # seccomp_data.arch
            _instruction(BPF_JEQ_K, 1, 0, AUDIT_ARCH[machine]),
            _instruction(BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),    # another ABI (x32, i386): not allowed
            _instruction(BPF_LD_W_ABS, 0, 0, 0)]                       # seccomp_data.nr
    for number in refused:
        code += [_instruction(BPF_JEQ_K, 0, 1, number),
                 _instruction(BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.EPERM)]
    for number in missing:
        code += [_instruction(BPF_JEQ_K, 0, 1, number),
                 _instruction(BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.ENOSYS)]
    code += [_instruction(BPF_JEQ_K, 0, 4, clone),
             _instruction(BPF_LD_W_ABS, 0, 0, 16),                      # seccomp_data.args[0], low half: flags
             _instruction(BPF_JSET_K, 1, 0, CLONE_THREAD),
             _instruction(BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.EPERM),
             _instruction(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
             _instruction(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW)]
    return b"".join(code)


def supported() -> bool:
    return platform.system() == "Linux" and platform.machine() in SYSCALLS


def forbid_new_processes() -> None:
    """Install the filter on the calling process (all its threads must be created after this call)."""
    if not supported():
        raise OSError(f"no process filter for {platform.system()} on {platform.machine()}")
    code = program(platform.machine())

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    fprog = SockFprog(len(code) // 8, code)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.cast(ctypes.pointer(fprog), ctypes.c_void_p),
                  0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed: " + os.strerror(ctypes.get_errno()))
