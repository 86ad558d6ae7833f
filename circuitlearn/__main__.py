"""``python -m circuitlearn`` runs the ``circuitlearn`` command."""
import sys

from circuitlearn.cli import main

sys.exit(main())
