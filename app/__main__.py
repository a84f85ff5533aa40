"""Entry point: `python -m app`, and the compiled binary's main module."""

import sys

if "__compiled__" in globals():
    # The layer build ships the third-party packages as .pyc in <binary dir>/lib (see build/nuitka-options.txt).
    import os

    from app import prebuilt, uncached_imports

    lib = os.path.join(os.path.dirname(sys.executable), "lib")
    uncached_imports.install(lib)  # read once, not kept in the page cache that counts against the function
    sys.path.append(lib)
    prebuilt.use(os.path.join(lib, prebuilt.FILE))  # what the libraries compile as they load, made at build time

from app.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
