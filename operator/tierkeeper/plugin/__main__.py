"""`python -m tierkeeper.plugin`: the kubectl plugin without its script on PATH (krew's
launcher runs it so)."""

import sys

from tierkeeper.plugin.cli import main

sys.exit(main())
