"""Resuming: a new run that starts from the weights of an earlier run's checkpoint or of a saved model.

`resume_from` is either a run id (its `checkpoint.keras`: the best epoch so far, also after a crash) or a
registry model name. Its weights are copied layer by layer into the model built from the new run's
config (so augmentation, dropout and optimizer settings may change, the architecture may not), epochs
are numbered on from the source's, and a fresh learning-rate schedule covers the new epochs.
"""

from __future__ import annotations

from cnn_core.atomic import read_json
from cnn_core.models.registry import RegistryError, load_metadata, load_model, model_file
from cnn_core.training.config import TrainConfig
from cnn_core.training.runs import RUN_ID_PATTERN, TrainingError, read_config, run_folder


def check_resume_source(source: str) -> None:
    if RUN_ID_PATTERN.match(source):
        if not (run_folder(source) / "checkpoint.keras").is_file():
            raise TrainingError("no_checkpoint", run_id=source)
        return
    try:
        model_file(source)
    except RegistryError:
        raise TrainingError("nothing_to_resume", name=source) from None


def resume_config(source: str) -> TrainConfig:
    """The config of a run or saved model to resume (a starting point for the new run's config)."""
    check_resume_source(source)
    if RUN_ID_PATTERN.match(source):
        return TrainConfig.from_dict(read_config(source))
    return TrainConfig.from_dict(load_metadata(source)["config"])


def load_resume_source(source: str):
    """(Keras model, epochs it was trained for) from a run's checkpoint or a registry model."""
    check_resume_source(source)
    if RUN_ID_PATTERN.match(source):
        import keras

        checkpoint = run_folder(source) / "checkpoint.keras"
        try:
            model = keras.saving.load_model(checkpoint, safe_mode=True, compile=False)
            info_path = checkpoint.with_suffix(".json")
            epoch = read_json(info_path).get("epoch") if info_path.is_file() else 0
            return model, int(epoch or 0)
        except Exception as error:  # a damaged file: one clear message rather than Keras' internals
            raise TrainingError("checkpoint_unreadable", run_id=source, reason=type(error).__name__) from None
    metadata = load_metadata(source)
    return load_model(source), int(metadata.get("epochs_trained") or len(metadata.get("history") or []))


def copy_weights(source, target) -> None:
    """Copy weights layer by layer (by name); TrainingError if the architectures differ."""
    for layer in target.layers:
        if not layer.weights or layer.name.startswith("random_"):  # augmentation: only RNG state
            continue
        try:
            weights = source.get_layer(layer.name).get_weights()
            layer.set_weights(weights)
        except ValueError as error:
            raise TrainingError("layer_mismatch", layer=layer.name, reason=str(error)) from None
