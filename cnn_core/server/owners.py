"""Who may do what on a shared server. No Streamlit here: the pages and the CLI ask the same questions.

A `Visitor` is an owner key (a login's "user:<email>", an anonymous browser's "anon-<hash>", the CLI's
--owner, or "local" on a desktop), the display name others see, and whether they are an admin (a teacher).
Runs and models record their owner's key. Off public mode everyone may do everything, as on a desktop.

In public mode:
- stop, cancel, delete, rename or continue: the owner or an admin;
- a run's report (its images, class names, data source, settings): the owner or an admin;
- a model: shipped and shared models are seen, classified with, compared and downloaded by everyone;
  others only by their owner and admins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnn_core.models.protection import shipped_names
from cnn_core.server import settings

LOCAL_OWNER = "local"


@dataclass(frozen=True)
class Visitor:
    """Someone using the app or the CLI."""

    owner: str
    display_name: str = ""
    admin: bool = False


def desktop_visitor() -> Visitor:
    return Visitor(LOCAL_OWNER, "", admin=True)


def may_manage(record: dict[str, Any], visitor: Visitor) -> bool:
    """Whether `visitor` may stop, cancel, delete, rename or continue a run or model (`record` has its "owner")."""
    if not settings.public_mode() or visitor.admin:
        return True
    return bool(record.get("owner")) and record.get("owner") == visitor.owner


def may_see_report(status: dict[str, Any], visitor: Visitor) -> bool:
    """Whether `visitor` may see a run's report: its images, class names, data source and settings."""
    return may_manage(status, visitor)


def model_is_public(metadata: dict[str, Any]) -> bool:
    """Shipped and shared models are everyone's to classify with, compare and download."""
    return metadata.get("name") in shipped_names() or bool(metadata.get("shared"))


def may_see_model(metadata: dict[str, Any], visitor: Visitor) -> bool:
    return model_is_public(metadata) or may_manage(metadata, visitor)


def visible_models(models: list[dict[str, Any]], visitor: Visitor) -> list[dict[str, Any]]:
    """The models `visitor` may see, in the given order."""
    return [model for model in models if may_see_model(model, visitor)]
