"""``[core] hostname_callable`` of the scale tier's Celery workers: each reports its own name.

Both workers run on one machine, so the default (the machine's FQDN) would not tell them apart.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    """The worker's name given by the tier (``SCALE_WORKER_NAME``), else the machine's FQDN."""
    return os.environ.get("SCALE_WORKER_NAME") or socket.getfqdn()
