import sys

from tierkeeper.cli import main

sys.exit(main())
