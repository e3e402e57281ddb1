"""``python -m hms_kit``: see hms_kit.cli."""

import sys

from hms_kit.cli import main

sys.exit(main())
