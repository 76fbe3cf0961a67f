"""``python -m ytempire_dq.cli``: the same as ``ytdq``."""

from ytempire_dq.cli import main

main()
