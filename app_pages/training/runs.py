"""Not a page: starting runs and showing them, live while they train and (app_pages.training.report) once they end.

Training never runs in a script run: `cnn_core.training.launch` starts a separate process and these functions
only read what it writes (runs/<id>/status.json and events.jsonl). The live view is a fragment that
re-reads those files every second; Stop only touches the run's STOP file.
"""

from __future__ import annotations

import streamlit as st

from app_pages.parts.guard import guarded
from app_pages.parts.identity import visitor
from app_pages.parts.language import current_language, error_text, t
from app_pages.training import queue as waiting
from app_pages.training import report
from cnn_core.models import registry
from cnn_core.server import owners, queue
from cnn_core.server.owners import may_manage, may_see_report
from cnn_core.training import figures, resume, runs, view
from cnn_core.training.config import TrainConfig

POLL_SECONDS = 1.0
LIVE_STATES = ("starting", "running")
FOLLOWED_STATES = ("queued", *LIVE_STATES)  # shown live, by the one polling fragment
RESUMABLE_STATES = ("interrupted", "failed", "stopped")  # ended before their plan did: resume where they left off


# --- 4 · Train. ---


def train_section(config: TrainConfig | None, spec: str | None, problem: str | None) -> None:
    """Model name, Train button (disabled with a reason), then the current run live or its results."""
    st.subheader(t("training.train.heading"))
    st.session_state.setdefault("model_name", "my-cnn")
    typed = st.text_input(t("training.train.model_name"), key="model_name", persist_state="session")
    try:
        name = registry.sanitize_name(typed)
        if name != typed:
            st.caption(t("training.train.saved_as", name=name))
    except registry.RegistryError as error:
        name, problem = "", problem or error_text(error)
    if problem and config is not None:
        st.warning(problem)
    # Train always accepts: the run joins the server's queue (app_pages.training.queue) and starts when a slot frees.
    if st.button(t("training.train.button"), type="primary", key="train", disabled=bool(problem or config is None)):
        if start(config, spec, name):
            st.rerun()  # from the top: the flash message and the queued or live view
    shown = run_to_show()
    if shown:
        show_run(shown, "current")


def run_to_show() -> str | None:
    """The run section 4 follows: the one this tab started while it is queued or training; else the visitor's own
    queued or training run, found on disk by owner (a reload, a new tab or a restart loses the session, never the
    run); else this tab's last run or, after a reload, the visitor's latest, to show its report."""
    statuses, who, started_here = runs.list_runs(), visitor(), st.session_state.get("run_id")
    state = next((status["state"] for status in statuses if status["run_id"] == started_here), None)
    if state in FOLLOWED_STATES:
        return started_here
    return owners.current_run(statuses, who) or (started_here if state else None) or owners.latest_run(statuses, who)


def start(config: TrainConfig, spec: str | None, name: str, resume_from: str | None = None) -> bool:
    """Queue a run and follow it on the training page; a full queue or bad request gets a message."""
    run_id = waiting.submit(config, spec, name, resume_from=resume_from)
    if run_id is None:
        return False
    st.session_state["run_id"], st.session_state["flash"] = run_id, t("training.queue.queued", run=run_id)
    return True


def show_run(run_id: str, place: str) -> None:
    """A run: live (polling) while it trains, its charts and results once it has ended."""
    try:
        status = runs.read_status(run_id)
    except runs.RunNotFoundError:  # deleted meanwhile (another tab, or by hand): nothing to follow
        st.session_state.pop("run_id", None)
        return
    if status["state"] in FOLLOWED_STATES:
        follow_run(run_id, place)
    elif not may_see_report(status, visitor()):
        st.info(t("training.runs.private"))  # public mode: images, classes and settings are the owner's
    else:
        ended_run(run_id, place, status)


def ended_run(run_id: str, place: str, status: dict) -> None:
    """A run's report; for its owner, Resume when it stopped before its plan did and left a checkpoint."""
    report.report_header(run_id, status)
    # A run the server requeued after a restart resumes as its copy: a second Resume would train it twice.
    if status["state"] in RESUMABLE_STATES and may_manage(status, visitor()) and not status.get("requeued_as"):
        checkpoint = resume.read_checkpoint(run_id)
        if checkpoint is not None:
            resume_button(run_id, status, checkpoint, place)
    report.report_body(run_id, place, status)


def resume_button(run_id: str, status: dict, checkpoint: resume.Checkpoint, place: str) -> None:
    """Resume a run from its checkpoint: the epochs its plan had left, on the same schedule and optimizer state."""
    left = checkpoint.epochs_left
    if st.button(t("training.report.resume", epochs=left), key=f"resume_{place}_{run_id}"):
        config = TrainConfig.from_dict(resume.continuation(run_id, checkpoint))
        data = runs.read_request(run_id).get("data")
        if start(config, data, status.get("model_name") or "my-cnn", resume_from=run_id):
            st.rerun()


@st.fragment(run_every=POLL_SECONDS)
@guarded
def follow_run(run_id: str, place: str) -> None:
    """A queued or training run, re-drawn every second from its files: its place in line, then its live view; the
    whole page reruns once it has ended. One fragment for both, drawn where the page's layout never shifts
    (training.py), so its identity stays the same from the first poll to the last: a page rerun that re-made the
    fragment under a new identity once left the browser polling one the server no longer had (a frozen view)."""
    status = runs.read_status(run_id)
    if status["state"] == queue.QUEUED:
        waiting.queued_panel(run_id, place, status)
    elif status["state"] not in LIVE_STATES:
        st.rerun()  # show the final report (and stop polling)
    elif not may_see_report(status, visitor()):
        st.info(t("training.runs.private"))
    else:
        live_panel(run_id, place, status)


def live_panel(run_id: str, place: str, status: dict) -> None:
    """Phase, progress, speed, Stop, and the charts so far of a training run."""
    events = report.run_events(run_id)
    numbers = figures.progress_numbers(status, events)
    phase_status(events)
    report.plan_notes(events)
    label = t("training.live.progress", model=status.get("model_name"), epoch=numbers["epoch"],
              last=numbers["last_epoch"])
    st.progress(numbers["fraction"], label)
    language = current_language()
    a, b, c, d = st.columns(4)
    a.metric(t("training.live.images_per_second"), f"{numbers['images_per_second']:,.0f}")
    b.metric(t("training.live.elapsed"), figures.format_seconds(numbers["elapsed"], language=language))
    c.metric(t("training.live.eta"), figures.format_seconds(numbers["eta"], language=language))
    # A callback runs before the fragment re-draws, so the button is already disabled when it comes back.
    stopping = runs.stop_file(run_id).exists()
    if may_manage(status, visitor()):
        d.button(t("training.live.stop"), key=f"stop_{place}", disabled=stopping, on_click=stop, args=(run_id,))
    if stopping:
        st.info(t("training.live.stopping"))
    report.run_charts(run_id, events, place)


def phase_status(events: list[dict]) -> None:
    """Where the run is (loading, calibrating, training, evaluating, saving), with the loading's own progress."""
    phase = figures.run_phase(events)
    last = events[-1] if events else {}
    with st.status(t(f"training.live.phase.{phase}"), state="running", expanded=phase == "loading"):
        for step in figures.PHASES[: figures.PHASES.index(phase)]:
            st.write(f"✅ {t(f'training.live.phase.{step}')}")
        if last.get("type") == "loading" and last.get("bytes_total"):
            done, total = last["bytes_done"], last["bytes_total"]
            st.progress(done / total, t("training.live.download_progress", done=done / 1e6, total=total / 1e6))
        elif last.get("type") == "loading" and last.get("images_total"):
            done, total = last["images_done"], last["images_total"]
            st.progress(done / total, t("training.live.decode_progress", done=done, total=total))
        elif phase == "loading":
            st.write(t("training.live.starting"))


def stop(run_id: str) -> None:
    """Stop button callback: the owner's or an admin's only, checked again against the run's record."""
    if may_manage(runs.read_status(run_id), visitor()):
        runs.request_stop(run_id)


# --- Every run. ---


def runs_section() -> None:
    """Every run this visitor may see (public mode: their own; a teacher's: all), with its state; open one to see its
    charts and results."""
    all_runs = owners.reports_for(runs.list_runs(), visitor())
    if not all_runs:
        st.info(t("training.runs.none"))
        return
    table = [{"run": run["run_id"], "state": report.state_name(run["state"]),
              "model": run.get("model_name"),
              "owner": run.get("display_name") or run.get("owner"),
              "started": view.short_time(run.get("started") or run.get("created")), "epochs": run.get("epochs"),
              "test_accuracy": view.percent(run.get("test_accuracy"))} for run in all_runs]
    columns = {name: t(f"training.runs.columns.{name}") for name in ("run", "state", "model", "owner", "started",
                                                                     "epochs")}
    columns["test_accuracy"] = st.column_config.NumberColumn(t("training.runs.columns.test_accuracy"),
                                                             format=view.PERCENT_FORMAT)
    st.dataframe(table, hide_index=True, key="runs_table", column_config=columns)
    labels = {run["run_id"]: f"{run['run_id']} · {run.get('model_name')} · {report.state_name(run['state'])}"
              for run in all_runs}
    chosen = st.selectbox(t("training.runs.open"), list(labels), format_func=labels.get, key="open_run")
    status = runs.read_status(chosen)
    if status["state"] in FOLLOWED_STATES:
        st.info(t("training.runs.live_elsewhere"))  # one live view per page: two would poll twice
    elif not may_see_report(status, visitor()):
        st.info(t("training.runs.private"))
    else:
        ended_run(chosen, "runs", status)
