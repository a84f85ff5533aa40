"""Cold files: a fresh microVM has not read the layer or the runtime yet, so a faithful cold start evicts their
pages from the page cache before launch (they are then read from disk again and charged to the environment)."""

from __future__ import annotations

import os
from pathlib import Path


def files_under(paths) -> list[Path]:
    """Every regular file of the given files and folders (symlinks resolved), each once."""
    seen: dict[Path, None] = {}
    for given in paths:
        p = Path(given).resolve()
        if p.is_dir():
            for root, _, names in os.walk(p):
                for name in names:
                    f = Path(root, name)
                    if f.is_file():
                        seen.setdefault(f.resolve())
        elif p.is_file():
            seen.setdefault(p)
    return list(seen)


def evict(paths) -> int:
    """Drop the cached pages of these files and folders; returns the bytes of the files visited.

    POSIX_FADV_DONTNEED drops clean pages that no process maps (dirty ones are written first); pages some running process maps (libc, or a
    library the emulator's own Python loaded) stay, as they would not be cold on a busy host either."""
    total = 0
    for f in files_under(paths):
        try:
            fd = os.open(f, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            os.fdatasync(fd)  # dirty pages (a layer just unzipped) cannot be dropped before they are written
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            total += os.fstat(fd).st_size
        finally:
            os.close(fd)
    return total
