"""`python -m afunet` runs the `afunet` command."""

from afunet.cli import main

raise SystemExit(main())
