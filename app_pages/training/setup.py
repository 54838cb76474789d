"""Not a page: the training page's settings. Data source, the model editor, the URL and JSON round trips.

Every setting is a widget keyed `cfg_<name>` (see `cnn_core.training.view.FORM_KEYS`), kept for the whole
session (`persist_state`), mirrored into the page URL (share a setup as a link) and turned into a
validated `TrainConfig` here. Each group of settings sits in an expander with room beside it, where
`lessons` explains the math with the current numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from app_pages.parts.language import current_language, error_text, t
from cnn_core import i18n
from cnn_core.datasets import summary, uploads
from cnn_core.datasets.base import DataError, default_location
from cnn_core.training import layers, view
from cnn_core.training.config import (
    ACTIVATIONS,
    HEADS,
    MAX_WHITENING_PATCH,
    OPTIMIZERS,
    POOL_POSITIONS,
    POOLINGS,
    PRESETS,
    SCHEDULES,
    ConfigError,
    TrainConfig,
    preset,
)
from cnn_core.training.preview import augment_preview

KEEP = {"persist_state": "session"}  # settings keep their values across page switches
DATA_KINDS = ("path", "upload", "download")
GROUPS = ("arch", "aug", "optim", "fit")  # the editor's expanders, in page order
DOWNLOAD_TRAIN_IMAGES = 50_000  # CIFAR-10's training split, for step counts before it is downloaded


def label(setting: str) -> str:
    return t(f"training.labels.{setting}")


def options(setting: str):
    """`format_func` for a choice setting: its values are config words, its labels come from the table."""
    language = current_language()  # bound now: Streamlit may call it after this run's language changed
    return lambda value: i18n.text(language, f"training.options.{setting}.{value}")


# --- Settings ⇄ widgets ⇄ URL. ---


def config_to_widgets(config: TrainConfig) -> None:
    """Show `config` in the editor (widget values live in session state under cfg_<entry>)."""
    for name, value in view.form_values(config).items():
        st.session_state["cfg_" + name] = value


def config_from_widgets() -> TrainConfig:
    """The validated config the editor shows; ConfigError says what to change."""
    values = {name: st.session_state["cfg_" + name] for name in view.FORM_KEYS}
    return view.config_from_form(values)


def load_initial_config() -> None:
    """First visit in this session: the settings in the URL (a shared link), else the seed preset."""
    if "cfg_filters" in st.session_state:
        return
    config = preset("seed")
    try:
        config = TrainConfig.from_query_params(st.query_params.to_dict())
    except ConfigError as error:
        st.session_state["link_error"] = t("training.model.bad_link", error=error_text(error))
    config_to_widgets(config)
    st.session_state["preset"] = next((name for name, value in PRESETS.items() if value == config), "seed")


def write_url(config: TrainConfig) -> None:
    """Put the settings that differ from the defaults into the address bar (keeps `lang`)."""
    wanted = config.to_query_params()
    if "lang" in st.query_params:
        wanted["lang"] = st.query_params["lang"]
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)


def apply_preset() -> None:
    config_to_widgets(preset(st.session_state["preset"]))


def apply_uploaded_config() -> None:
    upload = st.session_state.get("config_upload")
    st.session_state.pop("upload_error", None)
    if upload is not None:
        try:
            config_to_widgets(TrainConfig.from_json(upload.getvalue()))
        except ConfigError as error:
            st.session_state["upload_error"] = error  # shown with error_text, so a language switch follows


# --- Cached, pure helpers (shared by all sessions: keyed by their arguments only). ---


@st.cache_data(max_entries=16, show_spinner=False)
def augmented(images: np.ndarray, config_json: str, seed: int) -> np.ndarray:
    """One random draw of the configured augmentations on `images` (NumPy and Pillow: no TensorFlow here)."""
    return augment_preview(images, TrainConfig.from_json(config_json), seed=seed)


def summary_with_progress(spec: str) -> dict:
    """The dataset's summary (shared by every visitor: cnn_core.datasets.summary), with a progress bar while
    class folders decode; a summary another visitor already made returns at once."""
    bar = st.empty()

    def report(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), t("training.live.decode_progress", done=done, total=total))

    with st.spinner(t("training.data.reading")):
        info = summary.summarize(spec, report)
    bar.empty()
    return info


def summary_once(spec: str) -> dict:
    """The dataset's summary, read at most once per session and dataset; an uploaded one's refusal too (re-raised).

    The shared summaries are few (cnn_core.datasets.summary) and never keep an error, so without this a
    zip refused after seconds of decoding would be decoded again on every click of the page. Uploads are
    stored by content (datasets.uploads) and never change; a typed folder may be fixed, so it is read again.
    """
    kept = st.session_state.setdefault("data_summaries", {})
    if spec not in kept:
        if len(kept) >= 4:  # a few datasets per visitor; the oldest goes
            del kept[next(iter(kept))]
        try:
            kept[spec] = summary_with_progress(spec)
        except DataError as error:
            if not uploads.is_upload(Path(spec)):
                raise
            kept[spec] = error
    if isinstance(kept[spec], DataError):
        raise kept[spec]
    return kept[spec]


def summary_of(config: TrainConfig, info: dict | None) -> tuple[list[dict], int]:
    """The layer table and the weights' size, from the settings alone (no TensorFlow in the web process)."""
    classes = len(info["classes"]) if info else 10
    return layers.layer_rows(config, classes), layers.weight_bytes(config, classes)


# --- 1 · Data. ---


def data_section() -> tuple[str | None, dict | None, str | None]:
    """(data spec for `start_run`, None = download; its summary if local; a problem that blocks training)."""
    st.subheader(t("training.data.heading"))
    if "data_path" not in st.session_state:
        location = default_location()
        st.session_state["data_kind"] = "path" if location else "download"
        st.session_state["data_path"] = str(location or "")
    spec, info, problem = None, None, None
    kind = st.radio(t("training.data.kind"), DATA_KINDS, format_func=options("data_kind"), horizontal=True,
                    key="data_kind", **KEEP)
    if kind == "download":
        st.caption(t("training.data.download_note"))
    elif kind == "path":
        spec = st.text_input(t("training.data.path"), help=t("training.data.path_help"), key="data_path",
                             **KEEP).strip() or None
        problem = None if spec else t("training.data.no_path")
    else:
        upload = st.file_uploader(t("training.data.upload"), type=["zip"], key="data_upload")
        spec, problem = None, None if upload else t("training.data.no_upload")
        if upload:
            try:
                spec = str(uploads.store_upload(upload.name, upload.getvalue()))
            except OSError as error:  # e.g. a full disk; the system's own words stay as they are
                problem = t("training.data.upload_failed", reason=error.strerror or error)
                st.error(problem)
    if spec:
        try:
            info = summary_once(spec)
            st.caption(t("training.data.found", train=info["train"], test=info["test"], classes=len(info["classes"])))
        except DataError as error:
            problem = error_text(error)
            st.error(problem)
    # The saved-models page continues training on this same choice.
    st.session_state["data_choice"] = {"spec": spec, "problem": problem, "kind": kind}
    return spec, info, problem


# --- 2 · Model: the editor, one expander per group, each with a column for its lesson. ---


def config_section() -> tuple[TrainConfig | None, str | None, dict]:
    """Preset, JSON load/save and the grouped editor.

    Returns (config or None, its problem, {group: (column beside the widgets, container below them)} of the groups
    open now): the page fills those with the group's lesson and questions once it knows the config is valid.
    """
    st.subheader(t("training.model.heading"))
    left, right = st.columns([2, 1])
    left.selectbox(t("training.model.preset"), list(PRESETS), format_func=options("preset"), key="preset",
                   on_change=apply_preset, **KEEP)
    right.file_uploader(t("training.model.upload_config"), type=["json"], key="config_upload",
                        on_change=apply_uploaded_config)
    if "upload_error" in st.session_state:
        st.error(error_text(st.session_state["upload_error"]))
    lessons = {}
    for group, draw in zip(GROUPS, (architecture_widgets, augmentation_widgets, optimizer_widgets, fit_widgets)):
        # Lazy: a closed group draws neither its settings (they keep their values: persist_state) nor its lesson.
        section = st.expander(t(f"training.groups.{group}"), expanded=group == "arch", key=f"group_{group}_open",
                              on_change="rerun")
        if not section.open:
            continue
        with section:
            controls, beside = st.columns(2, gap="large")
            with controls:
                draw()
            lessons[group] = (beside, st.container())
    try:
        config = config_from_widgets()
    except ConfigError as error:
        st.error(t("training.model.invalid", error=error_text(error)))
        return None, error_text(error), lessons
    write_url(config)
    if config != PRESETS[st.session_state["preset"]]:
        left.caption(t("training.model.modified"))
    st.caption(t("training.model.share"))
    st.download_button(t("training.model.download_config"), config.to_json(), "cnn-config.json", "application/json",
                       on_click="ignore")
    return config, None, lessons


def architecture_widgets() -> None:
    st.text_input(label("filters"), key="cfg_filters", help=t("training.help.filters"), **KEEP)
    a, b = st.columns(2)
    a.number_input(label("convs_per_block"), 1, 6, key="cfg_convs_per_block", **KEEP)
    b.number_input(label("kernel_size"), 1, 11, key="cfg_kernel_size", help=t("training.help.kernel_size"), **KEEP)
    a.selectbox(label("padding"), ("valid", "same"), format_func=options("padding"), key="cfg_padding", **KEEP)
    b.selectbox(label("activation"), ACTIVATIONS, format_func=options("activation"), key="cfg_activation", **KEEP)
    a.selectbox(label("pooling"), POOLINGS, format_func=options("pooling"), key="cfg_pooling", **KEEP)
    b.number_input(label("pool_size"), 2, 4, key="cfg_pool_size", **KEEP)
    a.selectbox(label("pool_position"), POOL_POSITIONS, format_func=options("pool_position"),
                key="cfg_pool_position", **KEEP)
    b.checkbox(label("batch_norm"), key="cfg_batch_norm", help=t("training.help.batch_norm"), **KEEP)
    a.selectbox(label("head"), HEADS, format_func=options("head"), key="cfg_head", help=t("training.help.head"),
                **KEEP)
    b.selectbox(label("whitening_patch"), range(MAX_WHITENING_PATCH + 1), format_func=options("whitening_patch"),
                key="cfg_whitening_patch", help=t("training.help.whitening_patch"), **KEEP)
    st.text_input(label("dense_units"), key="cfg_dense_units", help=t("training.help.dense_units"), **KEEP)
    st.slider(label("dropout_rate"), 0.0, 0.9, step=0.05, key="cfg_dropout_rate", help=t("training.help.dropout_rate"),
              **KEEP)


def augmentation_widgets() -> None:
    a, b = st.columns(2)
    a.checkbox(label("flip"), key="cfg_flip", **KEEP)
    b.checkbox(label("test_time_flip"), key="cfg_test_time_flip", help=t("training.help.test_time_flip"), **KEEP)
    if a.checkbox(label("rotation_on"), key="cfg_rotation_on", **KEEP):
        a.number_input(label("rotation_degrees"), 0.0, 180.0, step=5.0, key="cfg_rotation_degrees", **KEEP)
    if b.checkbox(label("shift_on"), key="cfg_shift_on", **KEEP):
        b.number_input(label("shift_fraction"), 0.0, 0.5, step=0.05, key="cfg_shift_fraction", **KEEP)
    a.number_input(label("mixup_alpha"), 0.0, 1.0, step=0.1, key="cfg_mixup_alpha", help=t("training.help.mixup_alpha"),
                   **KEEP)


def optimizer_widgets() -> None:
    a, b = st.columns(2)
    a.selectbox(label("optimizer"), OPTIMIZERS, format_func=options("optimizer"), key="cfg_optimizer", **KEEP)
    b.number_input(label("learning_rate"), 1e-6, 1.0, step=1e-4, format="%.5f", key="cfg_learning_rate", **KEEP)
    a.number_input(label("weight_decay"), 0.0, 1.0, step=1e-4, format="%.5f", key="cfg_weight_decay",
                   help=t("training.help.weight_decay"), **KEEP)
    b.number_input(label("momentum"), 0.0, 0.999, step=0.01, key="cfg_momentum", **KEEP)
    a.selectbox(label("schedule"), SCHEDULES, format_func=options("schedule"), key="cfg_schedule", **KEEP)
    b.slider(label("warmup_fraction"), 0.0, 0.5, step=0.05, key="cfg_warmup_fraction", **KEEP)


def fit_widgets() -> None:
    a, b = st.columns(2)
    a.number_input(label("batch_size"), 1, 4096, key="cfg_batch_size", help=t("training.help.batch_size"), **KEEP)
    b.number_input(label("epochs"), 1, 1000, key="cfg_epochs", help=t("training.help.epochs"), **KEEP)
    a.slider(label("label_smoothing"), 0.0, 0.5, step=0.05, key="cfg_label_smoothing",
             help=t("training.help.label_smoothing"), **KEEP)
    b.number_input(label("time_budget_seconds"), 0.0, 7 * 24 * 3600.0, step=60.0, key="cfg_time_budget_seconds",
                   help=t("training.help.time_budget_seconds"), **KEEP)
    a.number_input(label("seed"), 0, 2**31 - 1, key="cfg_seed", help=t("training.help.seed"), **KEEP)
    b.slider(label("validation_fraction"), 0.0, 0.5, step=0.05, key="cfg_validation_fraction",
             help=t("training.help.validation_fraction"), **KEEP)
    a.checkbox(label("progressive_resizing"), key="cfg_progressive_resizing",
               help=t("training.help.progressive_resizing"), **KEEP)


# --- 3 · Before training. ---


def summary_section(rows: list[dict], size: int) -> None:
    """Parameter count, size and FLOPs, and the layer table (column names in the page's language)."""
    st.subheader(t("training.summary.heading"))
    a, b, c = st.columns(3)
    a.metric(t("training.summary.params"), f"{sum(row['params'] for row in rows):,}")
    b.metric(t("training.summary.size"), f"{size / 1e6:.2f} MB")
    c.metric(t("training.summary.flops"), f"{sum(row['flops'] for row in rows) / 1e6:,.1f} M")
    table = [{**row, "output_shape": " × ".join(map(str, row["output_shape"]))} for row in rows]
    columns = {name: t(f"training.summary.columns.{name}") for name in ("layer", "type", "output_shape")}
    columns |= {name: st.column_config.NumberColumn(t(f"training.summary.columns.{name}"), format="localized")
                for name in ("params", "flops")}
    st.dataframe(table, hide_index=True, key="layer_table", column_config=columns)
    st.caption(t("training.summary.flops_note"))
