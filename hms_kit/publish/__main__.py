"""``python -m hms_kit.publish ...``: the publishing command line (:mod:`hms_kit.publish.cli`)."""

import sys

from hms_kit.publish.cli import main

sys.exit(main())
