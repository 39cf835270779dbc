"""`python -m lart_demo ...`: the command line (lart_demo.cli)."""

import sys

from lart_demo.cli import main

sys.exit(main())
