"""Entry point: `python -m app`, and the compiled binary's main module."""

import sys

from app.main import main

if __name__ == "__main__":
    sys.exit(main())
