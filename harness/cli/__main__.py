"""`python -m harness.cli`, as the `harness` script."""

from harness.cli import main

main()
