"""`python -m contrastlab`: the same as the `contrastlab` command."""

from contrastlab.cli import main

main()
