"""``python -m exo.cli``: the ``exo`` command."""

from exo.cli.main import main

main()
