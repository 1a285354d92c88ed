"""``python -m dicomviz``: see :mod:`dicomviz.cli`."""

import sys

from dicomviz.cli import main

sys.exit(main())
