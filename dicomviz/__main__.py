"""``python -m dicomviz``: see :mod:`dicomviz.cli`."""

import sys

from .cli import main

sys.exit(main())
