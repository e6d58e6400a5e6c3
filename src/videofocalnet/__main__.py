"""``python -m videofocalnet`` (and ``torchrun -m videofocalnet train ...``)."""

import sys

from videofocalnet.cli import main

sys.exit(main())
