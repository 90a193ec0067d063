"""`python -m contrastlab`: the same as the `contrastlab` command."""

from contrastlab.client.cli import main

main()
