"""``python -m roomcast``: the ``roomcast`` command."""

import sys

from roomcast.cli import main

sys.exit(main())
