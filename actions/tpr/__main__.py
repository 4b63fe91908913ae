"""`python -m actions.tpr`: the engine command line.

Guarded because rasa-sdk imports every module of the `actions` package to find actions.
"""

import sys

from actions.tpr.cli import main

if __name__ == "__main__":
    sys.exit(main())
