import sys

from circuitlearn.cli import main

sys.exit(main())
