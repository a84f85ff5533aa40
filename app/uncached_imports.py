"""Imports that leave no page cache behind: each module file is read, then dropped from the page cache.

Lambda's memory limit and its Max Memory Used count the page cache the environment brings in. The third-party
packages of the layer (pscache/lib: ~9 MB of .pyc) are read once, at start-up, into memory; their page cache copy
would only stand in the function's way until the kernel needed the memory back. Extension modules (.so) are mapped,
not read, and keep their pages.
"""

from __future__ import annotations

import os
import sys
from importlib.machinery import (
    BYTECODE_SUFFIXES,
    EXTENSION_SUFFIXES,
    SOURCE_SUFFIXES,
    ExtensionFileLoader,
    FileFinder,
    SourceFileLoader,
    SourcelessFileLoader,
)


def read_uncached(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return b"".join(chunks)


class _Sourceless(SourcelessFileLoader):
    def get_data(self, path):
        return read_uncached(path)


class _Source(SourceFileLoader):
    def get_data(self, path):
        return read_uncached(path)


def install(folder: str) -> None:
    """Module files under `folder` (a sys.path entry, and every package below it) are read uncached."""
    folder = os.path.abspath(folder)
    hook = FileFinder.path_hook((ExtensionFileLoader, EXTENSION_SUFFIXES), (_Source, SOURCE_SUFFIXES),
                                (_Sourceless, BYTECODE_SUFFIXES))

    def under_folder(path: str):
        path = os.path.abspath(path)
        if path != folder and not path.startswith(folder + os.sep):
            raise ImportError("not under " + folder)  # the next hook takes it
        return hook(path)

    sys.path_hooks.insert(0, under_folder)
    sys.path_importer_cache.pop(folder, None)
