"""``python -m yinxin.adapters.cli``: the ``yinxin`` command."""

from yinxin.adapters.cli import main

main()
