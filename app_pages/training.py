"""Train a CNN: pick data, configure a model, train it in the background and watch it learn.

Training never runs in this script: `cnn_core.training` starts a separate process and this page only
reads what it writes (runs/<id>/status.json and events.jsonl), so reruns, page switches and closed
tabs leave it running. The settings live in the URL (share a setup as a link) and in JSON files.
"""

from __future__ import annotations

import json

import numpy as np
import streamlit as st

from cnn_core import paths, registry, training
from cnn_core import training_figures as figures
from cnn_core import training_view as view
from cnn_core.config import (
    ACTIVATIONS, HEADS, OPTIMIZERS, POOLINGS, PRESETS, SCHEDULES, ConfigError, TrainConfig, preset,
)
from cnn_core.data import DataError

POLL_SECONDS = 1.0
KEEP = {"persist_state": "session"}  # config widgets keep their values across page switches
SHARED_SUBSET = paths.PROJECT_ROOT.parent / "shared" / "data" / "cifar10-subset" / "cifar-10-batches-py"
LIVE_STATES = ("starting", "running")
PERCENT = st.column_config.NumberColumn(format="percent")

# --- Words on the page, by section (a later issue translates them). ---
TEXT = {
    "title": "Train a CNN",
    "intro": "Choose data and a model, press **Train**, and watch the loss fall. Training runs in the "
             "background: you can change settings, switch pages or close the tab; come back to see it.",
    "tab_train": "Set up & train", "tab_runs": "Runs", "tab_models": "Saved models",
    # 1 · Data
    "data": "1 · Data", "data_kind": "Where are the images?", "data_path": "Folder or archive path",
    "data_path_help": "A cifar-10-batches-py folder, cifar-10-python.tar.gz, "
                      "or a folder with one sub-folder per class.",
    "data_upload": "Zip of class folders (root/<class>/*.png)",
    "download_note": "The official CIFAR-10 archive (163 MB) is downloaded once when training starts; "
                     "its progress shows below.",
    "no_path": "Type the path of a dataset.", "no_upload": "Upload a zip of class folders.",
    # 2 · Model
    "model": "2 · Model", "preset": "Start from a preset", "modified": "(modified)",
    "upload_config": "Load settings (JSON)", "download_config": "Download settings (JSON)",
    "share": "The page address holds these settings: copy it to share this setup as a link.",
    "arch": "Architecture", "aug": "Augmentation", "optim": "Optimizer & schedule", "fit": "Batches, epochs, budget",
    "invalid": "This configuration cannot be trained: {error}",
    "bad_link": "The link's settings were not used: {error}",
    # 3 · Before training
    "before": "3 · Before training", "params": "Parameters", "size": "Size (float32)", "flops": "FLOPs per image",
    "preview": "Augmented training images (top: original, below: two random draws)",
    "preview_unavailable": "The augmentation preview needs local data (path or upload).",
    # 4 · Train and the live view
    "train": "4 · Train", "model_name": "Save the model as", "saved_as": "Saved as **{name}**.",
    "train_button": "Train", "stop_button": "Stop", "stop_sent": "Stopping after the current batch…",
    "busy": "Training **{model}** (run {run}) started {started}: one run at a time; wait or stop it.",
    "started": "Started run {run}: its live view is at the end of the first tab.",
    "starting": "Loading data and building the model…", "evaluating": "Scoring the best epoch on the test images…",
    "download_progress": "Downloading CIFAR-10: {done:.0f} of {total:.0f} MB",
    "progress": "{model} · epoch {epoch} of {last}",
    "images_per_second": "Images/s", "elapsed": "Elapsed", "eta": "Remaining",
    # A run's results
    "run_title": "{icon} **{model}** · {state} · run `{run}`", "test_accuracy": "Test accuracy",
    "download_csv": "History (CSV)", "download_run_config": "Settings (JSON)",
    "pick_cell": "Click a cell of the matrix, or choose a pair:",
    "true_class": "True class", "predicted_class": "Predicted as",
    "cell_images": "{count} test images of class {true} predicted as {predicted}",
    "misclassified": "Misclassified test images (true → predicted)",
    "no_predictions": "The test images of this run are not available (its data has moved).",
    # Runs and saved models
    "no_runs": "No runs yet.", "open_run": "Open a run",
    "live_elsewhere": "This run is training: its live view is in the first tab.",
    "no_models": "No saved models yet: train one.", "compare": "Compare models", "model_pick": "Model",
    "download_model": "Download .keras", "delete": "Delete…", "confirm_delete": "Delete **{name}** for good?",
    "yes_delete": "Yes, delete", "cancel": "Cancel", "deleted": "Deleted {name}.",
    "more_epochs": "More epochs", "continue": "Continue training",
    "continue_help": "Trains the saved model further on the data chosen in the first tab, "
                     "then saves it under the same name.",
}
EXPLAIN = {
    "output_size": r"n_{\text{out}} = \Bigl\lfloor \frac{n_{\text{in}} + 2p - k}{s} \Bigr\rfloor + 1",
    "augmentation": "Augmentation shows the network randomly flipped, rotated and shifted copies of each image, "
                    "so it learns shapes that survive those changes instead of memorising pixels.",
    "step": r"\text{Adam: } \theta \leftarrow \theta - \eta_t\,\frac{\hat m_t}{\sqrt{\hat v_t}+\epsilon}"
            r"\qquad \text{SGD: } u \leftarrow \mu u - \eta_t \nabla_\theta L,\ \ \theta \leftarrow \theta + u",
    "step_note": "One optimizer step moves every weight θ a little against the gradient of the loss on one batch "
                 "(Adam scales each weight's step by its recent gradients m̂ and their size v̂).",
    "softmax": r"p_k = \frac{e^{z_k}}{\sum_j e^{z_j}}",
    "cross_entropy": r"L = -\sum_k y_k \log p_k,\qquad y_k = (1-\varepsilon)\,[k=c] + \tfrac{\varepsilon}{K}",
    "loss_note": "Softmax turns the last layer's scores z into probabilities; the loss is small when the true "
                 "class c gets a high probability. Label smoothing ε keeps the model from being over-sure.",
    "schedule": {  # t: optimizer step, w: warm-up steps, T: all steps (cnn_core/schedules.py)
        "constant": r"\eta_t = \eta_{\max}",
        "cosine": r"\eta_t = \eta_{\max}\tfrac{t}{w}\ (t<w),\qquad "
                  r"\eta_t = \eta_{\max}\,\tfrac12\Bigl(1+\cos\pi\tfrac{t-w}{T-w}\Bigr)",
        "linear": r"\eta_t = \eta_{\max}\tfrac{t}{w}\ (t<w),\qquad \eta_t = \eta_{\max}\Bigl(1-\tfrac{t-w}{T-w}\Bigr)",
        "one_cycle": r"\eta_t = \tfrac{\eta_{\max}}{10} + \tfrac{9\eta_{\max}}{10}\tfrac{t}{w}\ (t<w),\qquad "
                     r"\eta_t = \eta_{\max}\Bigl(1-\tfrac{t-w}{T-w}\Bigr)",
    },
    "schedule_note": "The learning rate η changes with each step t: warm-up over the first w steps, "
                     "then it decays to 0 at the last step T.",
}
LABELS = {  # the settings editor, by TrainConfig field (cnn_core/config.py explains each one)
    "filters": "Filters per block", "convs_per_block": "Convolutions per block", "kernel_size": "Kernel size",
    "padding": "Padding", "activation": "Activation", "pooling": "Pooling", "pool_size": "Pool size", "head": "Head",
    "batch_norm": "Batch normalization", "dense_units": "Dense layers", "dropout_rate": "Dropout rate",
    "flip": "Horizontal flip", "test_time_flip": "Test-time flip",
    "rotation_on": "Rotation", "rotation_degrees": "Degrees",
    "shift_on": "Shift", "shift_fraction": "Fraction of the size", "optimizer": "Optimizer",
    "learning_rate": "Peak learning rate", "weight_decay": "Weight decay", "schedule": "Schedule",
    "warmup_fraction": "Warm-up share", "momentum": "Momentum (SGD)", "batch_size": "Batch size", "epochs": "Epochs",
    "seed": "Seed", "label_smoothing": "Label smoothing ε", "time_budget_seconds": "Time budget (s, 0 = off)",
}
HELP = {
    "filters": "One number per conv block, e.g. 32, 64", "dense_units": "Hidden units before the softmax, e.g. 128",
    "test_time_flip": "Average each test prediction with that of the mirrored image.",
    "time_budget_seconds": "Above 0, the number of epochs is chosen so that training fits this time.",
}
DATA_KINDS = {"path": "Local folder or archive", "upload": "Upload a zip", "download": "Download CIFAR-10"}
STATE_ICONS = {
    "starting": "⏳", "running": "⏳", "finished": "✅", "stopped": "⏹️", "failed": "❌", "interrupted": "⚠️",
}


# --- Settings ⇄ widgets ⇄ URL. ---


def config_to_widgets(config: TrainConfig) -> None:
    """Show `config` in the editor (widget values live in session state under cfg_<entry>)."""
    for name, value in view.form_values(config).items():
        st.session_state["cfg_" + name] = value


def config_from_widgets() -> TrainConfig:
    """The validated config the editor shows; ConfigError says what to change."""
    return view.config_from_form({name: st.session_state["cfg_" + name] for name in view.FORM_KEYS})


def load_initial_config() -> None:
    """First visit in this session: the settings in the URL (a shared link), else the seed preset."""
    if "cfg_filters" in st.session_state:
        return
    config = preset("seed")
    try:
        config = TrainConfig.from_query_params(st.query_params.to_dict())
    except ConfigError as error:
        st.session_state["link_error"] = TEXT["bad_link"].format(error=error)
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
            st.session_state["upload_error"] = str(error)


# --- Cached, pure helpers (shared by all sessions: keyed by their arguments only). ---


@st.cache_data(max_entries=4, show_spinner="Reading the dataset…")
def data_summary(spec: str) -> dict:
    """Sizes, class names and 8 sample training images of a dataset (DataError if unreadable)."""
    from cnn_core.data import load_dataset

    dataset = load_dataset(spec)
    picks = np.linspace(0, len(dataset.x_train) - 1, 8).astype(int)
    return {"train": len(dataset.x_train), "classes": dataset.class_names, "samples": dataset.x_train[picks],
            "source": dataset.source}


@st.cache_data(max_entries=2, show_spinner="Loading the test images…")
def run_test_images(run_id: str) -> np.ndarray:
    """The test images a finished run was scored on (a run's data never changes: keyed by its id)."""
    return training.run_dataset(run_id).x_test


@st.cache_data(max_entries=64, show_spinner="Building the model…")
def model_summary(config_json: str, num_classes: int) -> tuple[list[dict], int]:
    from cnn_core.model import layer_table, model_size_bytes

    config = TrainConfig.from_json(config_json)
    return layer_table(config, num_classes), model_size_bytes(config, num_classes)


@st.cache_data(max_entries=16, show_spinner=False)
def augmented(images: np.ndarray, config_json: str, seed: int) -> np.ndarray:
    from cnn_core.model import augment_preview

    return augment_preview(images, TrainConfig.from_json(config_json), seed=seed)


# --- 1 · Data. ---


def data_section() -> tuple[str | None, dict | None, str | None]:
    """(data spec for `start_run`, None = download; its summary if local; a problem that blocks training)."""
    st.subheader(TEXT["data"])
    if "data_path" not in st.session_state:
        local = paths.data_dir() / "cifar-10-batches-py"
        found = next((str(p) for p in (local, SHARED_SUBSET) if p.exists()), "")
        st.session_state["data_path"] = found
        st.session_state["data_kind"] = "path" if found else "download"
    kind = st.radio(TEXT["data_kind"], list(DATA_KINDS), format_func=DATA_KINDS.get, horizontal=True,
                    key="data_kind", **KEEP)
    if kind == "download":
        st.caption(TEXT["download_note"])
        return None, None, None
    if kind == "path":
        spec = st.text_input(TEXT["data_path"], help=TEXT["data_path_help"], key="data_path", **KEEP).strip()
        if not spec:
            return None, None, TEXT["no_path"]
    else:
        upload = st.file_uploader(TEXT["data_upload"], type=["zip"], key="data_upload")
        if upload is None:
            return None, None, TEXT["no_upload"]
        spec = str(view.store_upload(upload.name, upload.getvalue()))
    try:
        info = data_summary(spec)
    except DataError as error:
        st.error(str(error))
        return spec, None, str(error)
    st.caption(info["source"])
    return spec, info, None


# --- 2 · Model. ---


def config_section() -> tuple[TrainConfig | None, str | None]:
    """Preset, JSON load/save and the grouped editor; returns (config, None) or (None, error)."""
    st.subheader(TEXT["model"])
    left, right = st.columns([2, 1])
    left.selectbox(TEXT["preset"], list(PRESETS), key="preset", on_change=apply_preset, **KEEP)
    right.file_uploader(TEXT["upload_config"], type=["json"], key="config_upload", on_change=apply_uploaded_config)
    if "upload_error" in st.session_state:
        st.error(st.session_state["upload_error"])
    with st.expander(TEXT["arch"], expanded=True):
        st.text_input(LABELS["filters"], key="cfg_filters", help=HELP["filters"], **KEEP)
        a, b, c, d = st.columns(4)
        a.number_input(LABELS["convs_per_block"], 1, 6, key="cfg_convs_per_block", **KEEP)
        b.number_input(LABELS["kernel_size"], 1, 11, key="cfg_kernel_size", **KEEP)
        c.selectbox(LABELS["padding"], ("valid", "same"), key="cfg_padding", **KEEP)
        d.selectbox(LABELS["activation"], ACTIVATIONS, key="cfg_activation", **KEEP)
        a.selectbox(LABELS["pooling"], POOLINGS, key="cfg_pooling", **KEEP)
        b.number_input(LABELS["pool_size"], 2, 4, key="cfg_pool_size", **KEEP)
        c.selectbox(LABELS["head"], HEADS, key="cfg_head", **KEEP)
        d.checkbox(LABELS["batch_norm"], key="cfg_batch_norm", **KEEP)
        st.text_input(LABELS["dense_units"], key="cfg_dense_units", help=HELP["dense_units"], **KEEP)
        st.slider(LABELS["dropout_rate"], 0.0, 0.9, step=0.05, key="cfg_dropout_rate", **KEEP)
        st.latex(EXPLAIN["output_size"])
    with st.expander(TEXT["aug"]):
        st.caption(EXPLAIN["augmentation"])
        a, b, c = st.columns(3)
        a.checkbox(LABELS["flip"], key="cfg_flip", **KEEP)
        a.checkbox(LABELS["test_time_flip"], key="cfg_test_time_flip", help=HELP["test_time_flip"], **KEEP)
        if b.checkbox(LABELS["rotation_on"], key="cfg_rotation_on", **KEEP):
            b.number_input(LABELS["rotation_degrees"], 0.0, 180.0, step=5.0, key="cfg_rotation_degrees", **KEEP)
        if c.checkbox(LABELS["shift_on"], key="cfg_shift_on", **KEEP):
            c.number_input(LABELS["shift_fraction"], 0.0, 0.5, step=0.05, key="cfg_shift_fraction", **KEEP)
    with st.expander(TEXT["optim"]):
        st.latex(EXPLAIN["step"])
        st.caption(EXPLAIN["step_note"])
        a, b, c = st.columns(3)
        a.selectbox(LABELS["optimizer"], OPTIMIZERS, key="cfg_optimizer", **KEEP)
        b.number_input(LABELS["learning_rate"], 1e-6, 1.0, step=1e-4, format="%.5f", key="cfg_learning_rate", **KEEP)
        c.number_input(LABELS["weight_decay"], 0.0, 1.0, step=1e-4, format="%.5f", key="cfg_weight_decay", **KEEP)
        a.selectbox(LABELS["schedule"], SCHEDULES, key="cfg_schedule", **KEEP)
        b.slider(LABELS["warmup_fraction"], 0.0, 0.5, step=0.05, key="cfg_warmup_fraction", **KEEP)
        c.number_input(LABELS["momentum"], 0.0, 0.999, step=0.01, key="cfg_momentum", **KEEP)
    with st.expander(TEXT["fit"]):
        st.latex(EXPLAIN["softmax"] + r"\qquad " + EXPLAIN["cross_entropy"])
        st.caption(EXPLAIN["loss_note"])
        a, b, c = st.columns(3)
        a.number_input(LABELS["batch_size"], 1, 4096, key="cfg_batch_size", **KEEP)
        b.number_input(LABELS["epochs"], 1, 1000, key="cfg_epochs", **KEEP)
        c.number_input(LABELS["seed"], 0, 2**31 - 1, key="cfg_seed", **KEEP)
        a.slider(LABELS["label_smoothing"], 0.0, 0.5, step=0.05, key="cfg_label_smoothing", **KEEP)
        b.number_input(LABELS["time_budget_seconds"], 0.0, 7 * 24 * 3600.0, step=60.0, key="cfg_time_budget_seconds",
                       help=HELP["time_budget_seconds"], **KEEP)
    try:
        config = config_from_widgets()
    except ConfigError as error:
        st.error(TEXT["invalid"].format(error=error))
        return None, str(error)
    write_url(config)
    if config != PRESETS[st.session_state["preset"]]:
        left.caption(TEXT["modified"])
    st.caption(TEXT["share"])
    st.download_button(TEXT["download_config"], config.to_json(), "cnn-config.json", "application/json",
                       on_click="ignore")
    return config, None


# --- 3 · Before training. ---


def summary_section(config: TrainConfig, info: dict | None) -> None:
    """Layer table, totals, learning-rate schedule and the augmentation preview."""
    st.subheader(TEXT["before"])
    rows, size = model_summary(config.to_json(), len(info["classes"]) if info else 10)
    a, b, c = st.columns(3)
    a.metric(TEXT["params"], f"{sum(row['params'] for row in rows):,}")
    b.metric(TEXT["size"], f"{size / 1e6:.2f} MB")
    c.metric(TEXT["flops"], f"{sum(row['flops'] for row in rows) / 1e6:,.1f} M")
    table = [{**row, "output_shape": " × ".join(map(str, row["output_shape"]))} for row in rows]
    st.dataframe(table, hide_index=True, key="layer_table")
    train_images = info["train"] if info else 50_000
    st.plotly_chart(figures.schedule_figure(config, -(-train_images // config.batch_size)), key="schedule_chart")
    st.latex(EXPLAIN["schedule"][config.schedule])
    st.caption(EXPLAIN["schedule_note"])
    if config.flip or config.rotation_degrees or config.shift_fraction:
        if info is None:
            st.caption(TEXT["preview_unavailable"])
            return
        st.caption(TEXT["preview"])
        for seed in (None, 1, 2):
            images = info["samples"] if seed is None else augmented(info["samples"], config.to_json(), seed)
            st.image(list(images), width=64)


# --- 4 · Train, and the live view of a run. ---


def run_events(run_id: str) -> list[dict]:
    """All events of a run so far; this session reads only the new lines each time."""
    events = st.session_state.setdefault("run_events", {}).setdefault(run_id, [])
    events.extend(training.read_events(run_id, since=len(events)))
    return events


def busy_message(run_id: str) -> str:
    status = training.read_status(run_id)
    started = status.get("started") or status.get("created")
    return TEXT["busy"].format(model=status.get("model_name"), run=run_id, started=started)


def train_section(config: TrainConfig | None, spec: str | None, problem: str | None) -> None:
    """Model name, Train button (disabled with a reason), then the current run live or its results."""
    st.subheader(TEXT["train"])
    active = training.active_run()
    st.session_state.setdefault("model_name", "my-cnn")
    typed = st.text_input(TEXT["model_name"], key="model_name", **KEEP)
    try:
        name = registry.sanitize_name(typed)
        if name != typed:
            st.caption(TEXT["saved_as"].format(name=name))
    except registry.RegistryError as error:
        name, problem = "", problem or str(error)
    if problem and config is not None:
        st.warning(problem)
    if active:
        st.info(busy_message(active))
    if st.button(TEXT["train_button"], type="primary", key="train", disabled=bool(problem or config is None or active)):
        start(config, spec, name)
    shown = active or st.session_state.get("run_id")
    if shown:
        show_run(shown, "current")


def start(config: TrainConfig, spec: str | None, name: str, resume_from: str | None = None) -> None:
    """Start a background run and follow it here; a busy server or a bad request gets a message."""
    try:
        run_id = training.start_run(config, spec, name, resume_from=resume_from)
    except training.BusyError:
        st.warning(busy_message(training.active_run() or "?"))
    except ValueError as error:  # ConfigError, RegistryError, TrainingError: the message says what to change
        st.error(str(error))
    else:
        st.session_state["run_id"], st.session_state["flash"] = run_id, TEXT["started"].format(run=run_id)
        st.rerun()


def show_run(run_id: str, place: str) -> None:
    """A run: live (polling) while it trains, its charts and results once it has ended."""
    if training.read_status(run_id)["state"] in LIVE_STATES:
        live_view(run_id, place)
    else:
        run_report(run_id, place)


@st.fragment(run_every=POLL_SECONDS)
def live_view(run_id: str, place: str) -> None:
    """Re-drawn every second from the run's files; the whole page reruns once the run has ended."""
    status, events = training.read_status(run_id), run_events(run_id)
    if status["state"] not in LIVE_STATES:
        st.rerun()  # show the final report (and stop polling)
    numbers = figures.progress_numbers(status, events)
    last = events[-1] if events else {}
    if last.get("type") == "loading" and last.get("bytes_total"):
        done, total = last["bytes_done"], last["bytes_total"]
        st.progress(done / total, TEXT["download_progress"].format(done=done / 1e6, total=total / 1e6))
    elif last.get("type") in ("loading", None):
        st.info(TEXT["starting"])
    elif last.get("type") == "evaluating":
        st.info(TEXT["evaluating"])
    label = TEXT["progress"].format(model=status.get("model_name"), epoch=numbers["epoch"], last=numbers["last_epoch"])
    st.progress(numbers["fraction"], label)
    a, b, c, d = st.columns(4)
    a.metric(TEXT["images_per_second"], f"{numbers['images_per_second']:,.0f}")
    b.metric(TEXT["elapsed"], figures.format_seconds(numbers["elapsed"]))
    c.metric(TEXT["eta"], figures.format_seconds(numbers["eta"]))
    if d.button(TEXT["stop_button"], key=f"stop_{place}"):
        training.request_stop(run_id)
        st.toast(TEXT["stop_sent"])
    run_charts(run_id, events, place)


def run_charts(run_id: str, events: list[dict], place: str) -> None:
    """Batch and epoch charts, their x axes spanning the whole run so that a live chart shows what is left."""
    numbers = figures.progress_numbers({}, events)
    span = (numbers["first_epoch"], numbers["last_epoch"])
    batches = [event for event in events if event["type"] == "batch"]
    epochs = [event for event in events if event["type"] == "epoch"]
    if batches:
        figure = figures.batch_figure(batches, numbers["steps_per_epoch"], span)
        st.plotly_chart(figure, key=f"batches_{place}_{run_id}")
    if epochs:
        st.plotly_chart(figures.epoch_figure(epochs, span), key=f"epochs_{place}_{run_id}")


def run_report(run_id: str, place: str) -> None:
    """Charts, test results, confusion matrix with its images, misclassified gallery, downloads."""
    status, events = training.read_status(run_id), run_events(run_id)
    st.markdown(TEXT["run_title"].format(icon=STATE_ICONS.get(status["state"], ""), model=status.get("model_name"),
                                         state=status["state"], run=run_id))
    if status.get("error"):
        st.error(status["error"])
    run_charts(run_id, events, place)
    a, b = st.columns(2)
    a.download_button(TEXT["download_csv"], lambda: training.history_csv(run_id), f"{run_id}-history.csv", "text/csv",
                      key=f"csv_{place}_{run_id}", on_click="ignore")
    b.download_button(TEXT["download_run_config"], lambda: json.dumps(training.read_config(run_id), indent=2),
                      f"{run_id}-config.json", "application/json", key=f"config_{place}_{run_id}", on_click="ignore")
    finish = next((event for event in events if event["type"] == "finish"), None)
    if finish is None:
        return
    st.metric(TEXT["test_accuracy"], f"{finish['test_accuracy']:.1%}")
    st.plotly_chart(figures.per_class_figure(finish["per_class_accuracy"]), key=f"per_class_{place}_{run_id}")
    confusion_explorer(run_id, place, finish["confusion_matrix"], list(finish["per_class_accuracy"]))


def confusion_explorer(run_id: str, place: str, matrix: list[list[int]], class_names: list[str]) -> None:
    """Heatmap whose cells (clicked or chosen) show the test images behind them, then the mistakes."""
    key = f"{place}_{run_id}"
    event = st.plotly_chart(figures.confusion_figure(matrix, class_names), key=f"confusion_{key}",
                            on_select="rerun", selection_mode="points")
    points = event.selection.points if event else []
    if points and points[0].get("x") in class_names and points[0] != st.session_state.get(f"clicked_{key}"):
        st.session_state[f"clicked_{key}"] = points[0]  # a new click moves the two selectboxes below
        st.session_state[f"true_{key}"], st.session_state[f"predicted_{key}"] = points[0]["y"], points[0]["x"]
    results = training.test_predictions(run_id)
    try:
        images = run_test_images(run_id) if results is not None else None
    except (DataError, OSError):
        images = None
    if images is None or len(images) != len(results["labels"]):
        st.caption(TEXT["no_predictions"])
        return
    labels, predictions = results["labels"], results["predictions"]
    st.caption(TEXT["pick_cell"])
    a, b = st.columns(2)
    true_name = a.selectbox(TEXT["true_class"], class_names, key=f"true_{key}")
    predicted_name = b.selectbox(TEXT["predicted_class"], class_names, index=1, key=f"predicted_{key}")
    true_index, predicted_index = class_names.index(true_name), class_names.index(predicted_name)
    chosen = np.flatnonzero((labels == true_index) & (predictions == predicted_index))
    st.caption(TEXT["cell_images"].format(count=len(chosen), true=true_name, predicted=predicted_name))
    if len(chosen):
        st.image(list(images[chosen[:40]]), width=64)
    wrong = np.flatnonzero(labels != predictions)[:40]
    st.caption(TEXT["misclassified"])
    captions = [f"{class_names[labels[index]]} → {class_names[predictions[index]]}" for index in wrong]
    st.image(list(images[wrong]), caption=captions, width=64)


# --- Runs and saved models. ---


def runs_section() -> None:
    """Every run with its state; open one to see its charts and results."""
    runs = training.list_runs()
    if not runs:
        st.info(TEXT["no_runs"])
        return
    st.dataframe([{"run": run["run_id"], "state": f"{STATE_ICONS.get(run['state'], '')} {run['state']}",
                   "model": run.get("model_name"), "started": run.get("started") or run.get("created"),
                   "epochs": run.get("epochs"), "test accuracy": run.get("test_accuracy")} for run in runs],
                 hide_index=True, key="runs_table", column_config={"test accuracy": PERCENT})
    labels = {run["run_id"]: f"{run['run_id']} · {run.get('model_name')} · {run['state']}" for run in runs}
    chosen = st.selectbox(TEXT["open_run"], list(labels), format_func=labels.get, key="open_run")
    if training.read_status(chosen)["state"] in LIVE_STATES:
        st.info(TEXT["live_elsewhere"])  # one live view per page: two would poll twice
    else:
        run_report(chosen, "runs")


def models_section(spec: str | None, problem: str | None) -> None:
    """Saved models: compare, download, delete (confirmed), continue training."""
    models = registry.list_models()
    if not models:
        st.info(TEXT["no_models"])
        return
    st.dataframe([{"name": model["name"], "test accuracy": model.get("test_accuracy"), "created": model.get("created"),
                   "dataset": model.get("dataset")} for model in models], hide_index=True, key="models_table",
                 column_config={"test accuracy": PERCENT})
    by_name = {model["name"]: model for model in models}
    compared = st.multiselect(TEXT["compare"], list(by_name), key="compare_models")
    if len(compared) >= 2:
        rows = view.compare_models([by_name[name] for name in compared])
        st.dataframe(rows, hide_index=True, key="compare_table")
    name = st.selectbox(TEXT["model_pick"], list(by_name), key="registry_model")
    a, b, c = st.columns(3)
    a.download_button(TEXT["download_model"], lambda: registry.model_file(name).read_bytes(), f"{name}.keras",
                      "application/octet-stream", key="download_model", on_click="ignore")
    if b.button(TEXT["delete"], key="delete_model"):
        st.session_state["confirm_delete"] = name
    if st.session_state.get("confirm_delete") == name:
        st.warning(TEXT["confirm_delete"].format(name=name))
        yes, no = st.columns(2)
        if yes.button(TEXT["yes_delete"], key="confirm_delete_yes"):
            registry.delete_model(name)
            del st.session_state["confirm_delete"]
            st.toast(TEXT["deleted"].format(name=name))
            st.rerun()
        if no.button(TEXT["cancel"], key="confirm_delete_no"):
            del st.session_state["confirm_delete"]
            st.rerun()
    more = c.number_input(TEXT["more_epochs"], 1, 1000, value=5, key="more_epochs", help=TEXT["continue_help"])
    if c.button(TEXT["continue"], key="continue_training", disabled=bool(problem) or training.active_run() is not None):
        config = TrainConfig.from_dict({**by_name[name]["config"], "epochs": int(more), "time_budget_seconds": 0.0})
        start(config, spec, name, resume_from=name)


# --- The page. ---

st.title(TEXT["title"])
st.markdown(TEXT["intro"])
load_initial_config()
if "link_error" in st.session_state:
    st.warning(st.session_state.pop("link_error"))
if "flash" in st.session_state:
    st.success(st.session_state.pop("flash"))
tab_names = [TEXT["tab_train"], TEXT["tab_runs"], TEXT["tab_models"]]
train_tab, runs_tab, models_tab = st.tabs(tab_names, key="training_tabs")
with train_tab:
    data_spec, data_info, data_problem = data_section()
    train_config, config_problem = config_section()
    if train_config is not None:
        summary_section(train_config, data_info)
    train_section(train_config, data_spec, data_problem or config_problem)
with runs_tab:
    runs_section()
with models_tab:
    models_section(data_spec, data_problem)
