"""`python -m cnn_core models ...`: the registry from the command line, under the same rules as the pages.

    python -m cnn_core models list                 one JSON line per saved model
    python -m cnn_core models delete NAME          refused (exit 1, message on stderr) for a protected model
    python -m cnn_core models rename NAME NEW      refused for a protected model (exit 1) or a taken name (exit 2)
    python -m cnn_core models protect NAME         mark a model protected (the server's keeper is its admin)
    python -m cnn_core models unprotect NAME       lift an admin's mark (shipped models stay protected)
"""

from __future__ import annotations

import argparse
import json
import sys

from cnn_core import settings
from cnn_core.cli.visitor import add_visitor_arguments, visitor_from
from cnn_core.models import registry
from cnn_core.models.protection import ProtectedError, protection_reason, set_protected
from cnn_core.server import owners


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `models`: an action and, except for list, a model name."""
    parser.add_argument("action", choices=("list", "delete", "rename", "protect", "unprotect"))
    parser.add_argument("name", nargs="?", help="the model's registry name")
    parser.add_argument("new_name", nargs="?", help="rename: the new name (refused if a model has it)")
    add_visitor_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """List, delete, rename, protect or unprotect; a protected model's refusal exits with status 1."""
    who = visitor_from(args)
    if args.action == "list":
        for model in owners.models_for(who):
            row = {key: model.get(key) for key in ("name", "test_accuracy", "created", "owner", "shared")}
            print(json.dumps({**row, "protected": protection_reason(model["name"])}), flush=True)
        return 0
    if not args.name:
        raise registry.RegistryError("bad_name", name="")
    name = registry.sanitize_name(args.name)
    try:
        if args.action == "rename":  # the owner (or --admin), to a name no one else's reads like
            new_name = owners.rename_model_for(name, args.new_name or "", who)
            print(json.dumps({"name": new_name, "renamed_from": name, "action": "rename"}), flush=True)
            return 0
        check_may_change(name, args.action, who)
        if args.action == "delete":
            registry.delete_model(name)
        else:
            registry.model_file(name)  # RegistryError if there is no such model
            set_protected(name, args.action == "protect")
    except ProtectedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"name": name, "action": args.action}), flush=True)
    return 0


def check_may_change(name: str, action: str, who: owners.Visitor) -> None:
    """Public mode: the owner (or --admin) deletes a model; only --admin protects or unprotects one."""
    if not settings.public_mode() or who.admin:
        return
    if action in ("protect", "unprotect") or not owners.may_manage_model(name, who):
        owners.model_metadata_for(name, who)  # "no such model" for one this visitor may not even see
        raise ProtectedError("not_yours", name=name)
