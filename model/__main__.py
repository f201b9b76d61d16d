"""``python -m model`` runs the carescale command line."""

import sys

from model.cli import main

sys.exit(main())
