"""`python -m registry ...`: the same as the `profile-registry` command (the form that works on Windows too)."""

import sys

from registry.cli import main

sys.exit(main())
