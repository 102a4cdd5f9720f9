"""`python -m realtime_cli` runs the same CLI as the `rt` script."""

from realtime_cli.cli.app import main

main()
