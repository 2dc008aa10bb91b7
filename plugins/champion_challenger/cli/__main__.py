"""``python -m champion_challenger.cli``: the same as ``ccp``."""

import sys

from champion_challenger.cli import main

sys.exit(main())
