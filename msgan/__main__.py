import sys

from msgan.cli import main

sys.exit(main())
