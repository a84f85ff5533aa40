"""Entry point: `python -m app`, and the compiled binary's main module."""

import sys

if "__compiled__" in globals():
    # The layer build ships the third-party packages as .pyc in <binary dir>/lib (see build/nuitka-options.txt).
    import os

    sys.path.append(os.path.join(os.path.dirname(sys.executable), "lib"))

from app.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
