"""Saved models: compare them, download one, delete (after a confirmation) or rename one, or train one further.

Models are folders in the registry (`cnn_core.models.registry`): the training page saves there. Continuing a
model starts a background run on the data chosen on the training page and follows it there.
"""

from __future__ import annotations

import streamlit as st

from app_pages.parts.identity import say_if_picked_model_gone, visitor
from app_pages.parts.language import current_language, error_text, t
from app_pages.training import runs as training_runs
from cnn_core import settings
from cnn_core.datasets.base import default_location, location_name
from cnn_core.models import registry
from cnn_core.models.card import model_card
from cnn_core.models.protection import ProtectedError, protection_reason, set_protected
from cnn_core.server import owners
from cnn_core.server.owners import may_manage
from cnn_core.training import export, transfer, view
from cnn_core.training.config import TrainConfig

TRAINING_PAGE = "app_pages/training.py"


def table_section(models: list[dict]) -> dict[str, dict]:
    """All models in a table, and a side-by-side comparison of the chosen ones; returns them by name."""
    table = [{"name": model["name"], "test_accuracy": view.percent(model.get("test_accuracy")),
              "corruption_accuracy": view.percent(view.recorded_corruption_mean(model)),
              "created": view.short_time(model.get("created")), "train_images": model.get("train_images"),
              "training_seconds": model.get("training_seconds")} for model in models]
    columns = {
        "name": t("models.columns.name"), "created": t("models.columns.created"),
        "test_accuracy": st.column_config.NumberColumn(t("models.columns.test_accuracy"), format=view.PERCENT_FORMAT),
        "corruption_accuracy": st.column_config.NumberColumn(t("models.columns.corruption_accuracy"),
                                                             format=view.PERCENT_FORMAT,
                                                             help=t("models.columns.corruption_accuracy_help")),
        "train_images": st.column_config.NumberColumn(t("models.columns.train_images"), format="localized"),
        "training_seconds": st.column_config.NumberColumn(t("models.columns.training_seconds"), format="%.0f"),
    }
    st.dataframe(table, hide_index=True, key="models_table", column_config=columns)
    by_name = {model["name"]: model for model in models}
    compared = st.multiselect(t("models.compare"), list(by_name), key="compare_models",
                              placeholder=t("models.compare_placeholder"),
                              select_all=False)  # Streamlit's "Select all" row is English-only
    if len(compared) >= 2:
        st.dataframe(view.compare_models([by_name[name] for name in compared], current_language()), hide_index=True,
                     key="compare_table")
    return by_name


def download_section(column, name: str) -> None:
    """The model as one .keras file, and as the two files the classify page imports. Every file is made when its
    button is clicked, for a visitor who may still see the model then (owners.made_for)."""
    who = visitor()
    column.download_button(t("models.download"), owners.made_for(who, registry.model_bytes, name), f"{name}.keras",
                           "application/octet-stream", key="download_model", on_click="ignore")
    # The two files the classify page imports (the weights need Keras, ~2 s the first time).
    column.download_button(t("models.download_settings"), owners.made_for(who, transfer.export_description, name),
                           f"{name}.json", "application/json", key="download_settings", on_click="ignore")
    column.download_button(t("models.download_weights"), owners.made_for(who, transfer.export_weights, name),
                           f"{name}.weights.h5", "application/octet-stream", key="download_weights", on_click="ignore")
    column.caption(t("models.download_for_import"))
    export_downloads(column, name)


def export_downloads(column, name: str) -> None:
    """The model for use outside the app: a Keras training script, a SavedModel (.zip), a TFLite file (the
    conversions take seconds: made when clicked, as above)."""
    who = visitor()
    column.download_button(t("models.export_code"), owners.made_for(who, export.keras_code_bytes, name),
                           export.script_file_name(name), "text/x-python", key="export_code", on_click="ignore",
                           help=t("models.export_code_help"))
    column.download_button(t("models.export_saved_model"), owners.made_for(who, export.saved_model_zip, name),
                           f"{name}_saved_model.zip", "application/zip", key="export_saved_model", on_click="ignore",
                           help=t("models.export_saved_model_help"))
    column.download_button(t("models.export_tflite"), owners.made_for(who, export.tflite_bytes, name), f"{name}.tflite",
                           "application/octet-stream", key="export_tflite", on_click="ignore",
                           help=t("models.export_tflite_help"))
    column.caption(t("models.export_note"))


def card_section(model: dict) -> None:
    """The model card in the reader's language, and the same text as a Markdown download."""
    card = model_card(model, current_language())
    with st.expander(t("models.card"), expanded=False):
        st.markdown(card)
        st.download_button(t("models.download_card"), card, f"{model['name']}-card-{current_language()}.md",
                           "text/markdown", key="download_card", on_click="ignore")


def delete_section(column, name: str) -> None:
    """Delete, after a second click that confirms it; a protected model says why it cannot be deleted."""
    reason = protection_reason(name)
    if reason:
        column.caption(t(f"models.protected_{reason}"))
    if not owners.may_manage_model(name, visitor()):
        column.caption(t("models.not_yours"))
        return
    if column.button(t("models.delete"), key="delete_model", disabled=bool(reason)):
        st.session_state["confirm_delete"] = name
    if st.session_state.get("confirm_delete") != name:
        return
    st.warning(t("models.confirm_delete", name=name))
    yes, no = st.columns(2)
    if yes.button(t("models.yes_delete"), key="confirm_delete_yes"):
        try:
            if not owners.may_manage_model(name, visitor()):  # a crafted session state ends here too
                raise ProtectedError("not_yours", name=name)
            registry.delete_model(name)
        except (registry.RegistryError, ProtectedError) as error:  # already deleted in another tab; protected
            st.session_state["models_flash"] = error_text(error)
        else:
            st.toast(t("models.deleted", name=name))
        st.session_state["models_deleted"] = name  # said here (toast or flash): not again as "gone" by the picker
        del st.session_state["confirm_delete"]
        st.rerun()
    if no.button(t("models.cancel"), key="confirm_delete_no"):
        del st.session_state["confirm_delete"]
        st.rerun()


def rename_section(column, name: str) -> None:
    """A new name for the visitor's own model (a teacher's: any); a protected model keeps its name."""
    if protection_reason(name) or not owners.may_manage_model(name, visitor()):
        return
    column.text_input(t("models.rename_to"), key=f"rename_to_{name}", placeholder=name)
    column.button(t("models.rename"), key="rename_model", on_click=rename, args=(name,))


def rename(name: str) -> None:
    """Rename button callback: runs before the page is drawn, so the model list already shows the new name."""
    typed = st.session_state.get(f"rename_to_{name}") or ""
    try:  # a crafted session state ends here too; so does "VICTIM_MODEL" beside another's victim-model
        new_name = owners.rename_model_for(name, typed, visitor())
    except (registry.RegistryError, ProtectedError) as error:  # taken, protected, gone, or a name that cannot be
        st.session_state["models_flash"] = error_text(error)
        return
    st.session_state["registry_model"] = new_name
    st.toast(t("models.renamed", name=name, new_name=new_name))


def continue_section(column, model: dict) -> None:
    """Train the model for more epochs, on the data chosen on the training page (or the same default it offers)."""
    choice = st.session_state.get("data_choice")
    if choice is None:
        location = default_location()
        choice = {"spec": str(location) if location else None, "problem": None}
    epochs = column.number_input(t("models.more_epochs"), 1, 1000, value=5, key="more_epochs",
                                 help=t("models.continue_help"))
    column.caption(t("models.continue_data", data=location_name(choice["spec"]) if choice["spec"]
                     else t("models.download_data")))  # named by its file or folder, never its server path
    mine = may_manage(model, visitor())
    target = model["name"] if mine and not protection_reason(model["name"]) else f"{model['name']}-more"
    target = column.text_input(t("models.continue_as"), value=target, key=f"continue_as_{model['name']}")
    # Keyed by the model: a click never carries over to another one the picker fell back to (the model it was drawn
    # for was made private, deleted or renamed by its owner meanwhile).
    if column.button(t("models.continue"), key=f"continue_training_{model['name']}", disabled=bool(choice["problem"])):
        config = TrainConfig.from_dict({**model["config"], "epochs": int(epochs), "time_budget_seconds": 0.0})
        if training_runs.start(config, choice["spec"], target, resume_from=model["name"]):
            st.switch_page(TRAINING_PAGE)  # its queued, then live, view follows the new run
    if choice["problem"]:
        column.warning(choice["problem"])


def sharing_section(name: str) -> None:
    """Public mode: the owner shares a model with the class; a teacher protects it from deletion."""
    if not settings.public_mode():
        return
    who = visitor()
    metadata = owners.model_metadata_for(name, who)
    if may_manage(metadata, who) and protection_reason(name) != "shipped":
        shared = st.toggle(t("models.shared"), value=bool(metadata.get("shared")), key=f"shared_{name}")
        if shared != bool(metadata.get("shared")):
            registry.set_shared(name, shared)
            st.rerun()
    if who.admin and protection_reason(name) != "shipped":
        marked = st.toggle(t("models.protect"), value=protection_reason(name) == "marked", key=f"protect_{name}")
        if marked != (protection_reason(name) == "marked"):
            set_protected(name, marked)
            st.rerun()


st.title(t("models.title"))
st.markdown(t("models.intro"))
if "models_flash" in st.session_state:
    st.warning(st.session_state.pop("models_flash"))
models = owners.models_for(visitor())  # public mode: shipped and shared ones, and this visitor's own
if not models:
    st.info(t("models.none"))
    st.page_link(TRAINING_PAGE, label=t("models.to_training"), icon="🏋️")
    st.stop()
by_name = table_section(models)
say_if_picked_model_gone("registry_model", list(by_name), said=st.session_state.pop("models_deleted", None))
name = st.selectbox(t("models.pick"), list(by_name), key="registry_model")
download, delete, more = st.columns(3)
download_section(download, name)
delete_section(delete, name)
rename_section(delete, name)
continue_section(more, by_name[name])
card_section(by_name[name])
sharing_section(name)
st.page_link(TRAINING_PAGE, label=t("models.to_training"), icon="🏋️")
