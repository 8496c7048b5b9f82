"""`python -m desktop_dedup` is the same as the `desktop-dedup` command."""
import sys

from desktop_dedup.cli import main

if __name__ == "__main__":
    sys.exit(main())
