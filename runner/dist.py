"""`python -m runner.dist [SITE_DIR] [ZIP_PATH]`: kept for the Makefile; see runner.report.dist."""

import sys

from runner.report.dist import main

if __name__ == "__main__":
    sys.exit(main())
