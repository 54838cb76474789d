"""Who may do what on a shared server. No Streamlit here: the pages and the CLI ask the same questions.

A `Visitor` is an owner key (a login's "user:<email>", an anonymous browser's "anon-<hash>", the CLI's
--owner, or "local" on a desktop), the display name others see, and whether they are an admin (a teacher).
Runs and models record their owner's key. Off public mode everyone may do everything, as on a desktop.

In public mode:
- stop, cancel, delete, rename or continue: the owner or an admin; a new name (a rename, an import, a run's model)
  must not read like another owner's model (`check_name_free`);
- a run's report (its images, class names, data source, settings): the owner or an admin;
- a model: shipped and shared models are seen, classified with, compared and downloaded by everyone;
  others only by their owner and admins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from cnn_core import settings
from cnn_core.models import registry
from cnn_core.models.protection import ProtectedError, shipped_names
from cnn_core.training.runs import ACTIVE_STATES, list_runs

T = TypeVar("T")

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


def models_for(visitor: Visitor) -> list[dict[str, Any]]:
    """The metadata of every saved model `visitor` may see, newest first."""
    return visible_models(registry.list_models(), visitor)


def model_metadata_for(name: str, visitor: Visitor) -> dict[str, Any]:
    """A model's metadata; RegistryError "no such model" when it is absent *or* not the visitor's to see."""
    metadata = registry.load_metadata(name)
    if not may_see_model(metadata, visitor):
        raise registry.RegistryError("no_such_model", name=registry.sanitize_name(name))
    return metadata


def may_manage_model(name: str, visitor: Visitor) -> bool:
    """Whether `visitor` may delete, rename, share or overwrite the saved model `name` (False if there is none)."""
    try:
        return may_manage(model_metadata_for(name, visitor), visitor)
    except registry.RegistryError:
        return False


def load_model_for(name: str, visitor: Visitor):
    """The Keras model `name`, after the same check as `model_metadata_for` (RegistryError otherwise)."""
    model_metadata_for(name, visitor)
    return registry.load_model(name)


def made_for(visitor: Visitor, make: Callable[[str], T], name: str) -> Callable[[], T]:
    """`make(name)` deferred (a download made when its button is clicked), after the same check as
    `model_metadata_for` at that moment: the owner may have made the model private, deleted or renamed it since."""
    def made() -> T:
        model_metadata_for(name, visitor)  # RegistryError "no such model": no file
        return make(name)

    return made


def may_see_settings(row: dict[str, Any], visitor: Visitor) -> bool:
    """Whether `visitor` may open a ranked run's settings (the class results' link): their own run, or a run whose
    model is still the one it saved and is shared with everyone."""
    if may_manage(row, visitor):
        return True
    try:
        metadata = registry.load_metadata(row.get("model") or "")
    except registry.RegistryError:
        return False
    return model_is_public(metadata) and metadata.get("run_id") == row.get("run_id")


def current_run(statuses: list[dict[str, Any]], visitor: Visitor) -> str | None:
    """The run a visitor follows on the training page: their own training run, else their first in line, found on
    disk by owner, so a reload, a new tab or a server restart (which requeues it under a new id) never loses it;
    None when they have neither. `statuses` as cnn_core.training.runs.list_runs returns them."""
    mine = [status for status in statuses if status.get("owner") == visitor.owner]
    if not settings.public_mode():  # a desktop: the run that is training, whoever started it
        mine = statuses
    training = [status for status in mine if status["state"] in ACTIVE_STATES]
    waiting = sorted((status for status in mine if status["state"] == "queued"),
                     key=lambda status: (status.get("queued_at") or 0, status["run_id"]))
    return next((status["run_id"] for status in training + waiting), None)


def name_taken_by_other(name: str, visitor: Visitor, statuses: list[dict[str, Any]] | None = None) -> str | None:
    """Public mode: the model name, spelt as saved, that someone else owns and that `name` would be mistaken for
    (registry.name_key: case, "_", "-" and spaces folded), among saved models and the queued or training runs that
    will save one (`statuses`, else every run's); None when the name is free for this visitor (or a teacher, or a
    desktop)."""
    if not settings.public_mode() or visitor.admin:
        return None
    statuses = list_runs() if statuses is None else statuses
    key = registry.name_key(name)
    saved = [(model["name"], model.get("owner")) for model in registry.list_models()]
    coming = [(status.get("model_name") or "", status.get("owner")) for status in statuses
              if status["state"] in ("queued", *ACTIVE_STATES)]
    return next((other for other, owner in saved + coming
                 if other and registry.name_key(other) == key and owner != visitor.owner), None)


def check_name_free(name: str, visitor: Visitor, statuses: list[dict[str, Any]] | None = None) -> None:
    """RegistryError("name_taken") when `name` would be mistaken for someone else's model (`name_taken_by_other`)."""
    if taken := name_taken_by_other(name, visitor, statuses):
        raise registry.RegistryError("name_taken", name=taken)


def rename_model_for(name: str, new_name: str, visitor: Visitor) -> str:
    """Rename a model `visitor` may manage (ProtectedError otherwise; "no such model" for one they may not see) to a
    name no one else's reads like (RegistryError); returns the new name. Pages and the CLI both rename through here."""
    if not may_manage_model(name, visitor):
        model_metadata_for(name, visitor)
        raise ProtectedError("not_yours", name=name)
    check_name_free(new_name, visitor)
    return registry.rename_model(name, new_name)


def last_display_name(owner: str) -> str | None:
    """The name others saw on `owner`'s newest run that has one: where a reload or a new tab starts from (a session
    forgets what its visitor typed; their runs do not)."""
    return next((status["display_name"] for status in list_runs()
                 if status.get("owner") == owner and status.get("display_name")), None)


def latest_run(statuses: list[dict[str, Any]], visitor: Visitor) -> str | None:
    """The visitor's most recent run of any state (to show its report again after a reload), or None."""
    return next((status["run_id"] for status in statuses if status.get("owner") == visitor.owner), None)


def reports_for(statuses: list[dict[str, Any]], visitor: Visitor) -> list[dict[str, Any]]:
    """The runs whose reports `visitor` may see (compare, galleries), in the given order."""
    return [status for status in statuses if may_see_report(status, visitor)]
