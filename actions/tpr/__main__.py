"""`python -m actions.tpr`: the engine command line."""

import sys

from actions.tpr.cli import main

sys.exit(main())
