"""``python -m brainnet``: the same as the ``brainnet`` command."""

from brainnet.cli import main

raise SystemExit(main())
