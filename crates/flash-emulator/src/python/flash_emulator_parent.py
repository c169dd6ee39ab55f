"""What the Flash-for-Rust boot step does with FLASH_EXIT_WITH_PARENT, for the Python workers
the emulator starts: ask Linux for SIGTERM when the emulator dies (prctl PR_SET_PDEATHSIG), so
an emulator killed with SIGKILL leaves no worker behind, then check the emulator is still the
parent (had it died first, no signal would come)."""

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def exit_with_parent() -> None:
    value = os.environ.get("FLASH_EXIT_WITH_PARENT", "").strip()
    if not value or not sys.platform.startswith("linux"):
        return
    parent = int(value)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:
        sys.exit(f"the process that started this worker ({parent}) is gone; not starting")
