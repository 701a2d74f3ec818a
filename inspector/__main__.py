"""`python -m inspector` runs the docker-inspector command."""

from inspector.cli import main

raise SystemExit(main())
