"""Who a command acts as on a shared server: `--owner KEY` and `--admin`, the same rule as the pages.

Off public mode a command may do everything, as on a desktop. In public mode (CNN_STUDIO_PUBLIC=1) the commands
that list or open models see exactly what that visitor sees in the app (cnn_core.server.owners): shipped and
shared models, their own, and everything with `--admin` (a teacher on the server's own shell).
"""

from __future__ import annotations

import argparse

from cnn_core.server.owners import Visitor


def add_visitor_arguments(parser: argparse.ArgumentParser) -> None:
    """`--owner` and `--admin` (only public mode reads them)."""
    parser.add_argument("--owner", default="", help="public mode: act as this owner key (a login's user:<email>)")
    parser.add_argument("--admin", action="store_true", help="public mode: act as a teacher (every model)")


def visitor_from(args: argparse.Namespace) -> Visitor:
    """The visitor a command acts as (an anonymous one sees shipped and shared models only)."""
    return Visitor(getattr(args, "owner", "") or "", admin=bool(getattr(args, "admin", False)))
