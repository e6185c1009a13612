"""Entry script for msrun workers (msrun starts a script file, not `python -m`)."""
import sys

from msgan.cli import main

if __name__ == "__main__":
    sys.exit(main())
