"""`python -m bot` runs the psabot CLI."""

from bot.cli import main

raise SystemExit(main())
