"""Dying with the parent: Linux's PR_SET_PDEATHSIG, so that killing the app (or torchrun) leaves no ranks behind."""
import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent(sig=signal.SIGKILL):
    """Asks the kernel to send `sig` when the parent exits; exits at once if it already has. No-op off Linux."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
