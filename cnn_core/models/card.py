"""A model card (Mitchell et al., 2019) for every saved model, in the reader's language, as Markdown.

Everything comes from the model's `metadata.json` (what training recorded): the data and its split,
the recipe, validation and test accuracy, per-class accuracy, accuracy under common corruptions, training
time, and plain limits. Fields
an older, imported or hand-edited file lacks are left out rather than guessed. No Keras, no Streamlit:
the Saved models page shows the text and offers it as a download.
"""

from __future__ import annotations

import math
import re
from typing import Any

from cnn_core import i18n
from cnn_core.models.robustness import SUITE
from cnn_core.untrusted import Markdown, markdown_text

Z_95 = 1.96  # a normal approximation's 95% interval: accuracy +- 1.96 standard errors
INPUT_SIDE = 32  # every model cnn_core builds takes 32x32 RGB pictures (cnn_core.training.model)
WEAK_CLASS_GAP = 0.15  # a class this far below the overall accuracy gets its own warning


def _t(language: str, key: str, **values: object) -> Markdown:
    """A card sentence; every value that is not a number or a sentence of the card is escaped (a model's
    metadata may come from a visitor's folder names, or be edited by hand)."""
    return Markdown(i18n.render(language, f"card.{key}", values, escape=markdown_text))


def _joined(language: str, names: list[str]) -> Markdown:
    return Markdown(_t(language, "separator").join(markdown_text(name) for name in names))


def _option(language: str, setting: str, value: Any) -> str:
    """A config word ("one_cycle") as the training page names it ("one-cycle", "单周期"), else as recorded."""
    return i18n.table(language).get(f"training.options.{setting}.{value}", str(value))


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _count(value: Any) -> str | None:
    number = _number(value)
    return f"{int(number):,}" if number is not None else None


def per_class_accuracy(metadata: dict) -> dict[str, float | None]:
    """Class name -> accuracy, whether the file stores a dict or a list in class order."""
    recorded = metadata.get("per_class_accuracy")
    names = [str(name) for name in metadata.get("class_names") or []]
    if isinstance(recorded, dict):
        return {str(name): _number(value) for name, value in recorded.items()}
    if isinstance(recorded, list) and len(recorded) == len(names):
        return {name: _number(value) for name, value in zip(names, recorded)}
    return {}


def dataset_text(metadata: dict, language: str) -> str:
    """Where the data came from, in `language` when training recorded it as a message (as Markdown, escaped)."""
    message = i18n.message_from_record(metadata.get("dataset_about"))
    if message is not None:
        try:
            return Markdown(message.text(language, escape=markdown_text))
        except (KeyError, ValueError, IndexError):  # values that do not fit the template: use the plain text
            pass
    return markdown_text(metadata.get("dataset") or _t(language, "unknown"))


def _data_section(metadata: dict, language: str) -> list[str]:
    lines = [f"## {_t(language, 'data')}", "", f"- {_t(language, 'source', source=dataset_text(metadata, language))}"]
    for field in ("train_images", "validation_images", "test_images"):
        if field == "validation_images" and metadata.get(field) == 0:  # trained on every training image
            lines.append(f"- {_t(language, 'no_validation')}")
        elif (count := _count(metadata.get(field))) is not None:
            lines.append(f"- {_t(language, field, count=count)}")
    names = [i18n.class_label(language, str(name)) for name in metadata.get("class_names") or []]
    if names:
        lines.append(f"- {_t(language, 'classes', count=len(names), names=_joined(language, names))}")
    return lines + [""]


# Augmentations with a strength, in the card's order: (setting, card text, its placeholder, format of the value).
STRENGTHS = (
    ("rotation_degrees", "rotation", "degrees", "{:g}"), ("shift_fraction", "shift", "share", "{:.0%}"),
    ("mixup_alpha", "mixup", "alpha", "{:g}"), ("blur_sigma", "blur", "sigma", "{:g}"),
    ("noise_std", "noise", "std", "{:g}"), ("jpeg_quality", "jpeg", "quality", "{:g}"),
)


def _augmentations(config: dict, language: str) -> list[str]:
    """The recipe's training augmentations, in the card's words."""
    augment = [_t(language, "flip")] if config.get("flip") else []
    augment += [_t(language, text, **{placeholder: shown.format(value)}) for setting, text, placeholder, shown in STRENGTHS
                if (value := _number(config.get(setting)))]
    if config.get("progressive_resizing"):
        augment.append(_t(language, "progressive"))
    return augment


def _recipe_section(metadata: dict, language: str) -> list[str]:
    config = metadata.get("config") if isinstance(metadata.get("config"), dict) else {}
    if not config:
        return []
    augment = _augmentations(config, language)
    values = {
        "whitening": _option(language, "whitening_patch", config.get("whitening_patch", 0)),
        "filters": " → ".join(str(count) for count in config.get("filters") or []) or "?",
        "convs": config.get("convs_per_block", "?"), "kernel": config.get("kernel_size", "?"),
        "batch_norm": _t(language, "yes" if config.get("batch_norm") else "no"), "head": _option(language, "head", config.get("head", "?")),
        "optimizer": _option(language, "optimizer", config.get("optimizer", "?")), "rate": config.get("learning_rate", "?"),
        "schedule": _option(language, "schedule", config.get("schedule", "?")), "epochs": metadata.get("epochs_trained", config.get("epochs", "?")),
        "batch": config.get("batch_size", "?"), "augment": _joined(language, augment) or _t(language, "none"),
        "smoothing": config.get("label_smoothing", 0), "flip_test": _t(language, "yes" if config.get(
            "test_time_flip") else "no"),
    }
    lines = [f"## {_t(language, 'recipe')}", "", *(f"- {line}" for line in _t(language, "recipe_lines", **values)
                                                    .split("\n"))]
    if config.get("whitening_patch") and (gain := _number(config.get("whitening_max_gain"))):
        lines.append(f"- {_t(language, 'whitening_cap', gain=f'{gain:g}')}")
    # Recorded since mixed precision (cnn_core.training.precision); an unknown value is left out, never shown.
    arithmetic = i18n.table(language).get(f"card.precision_names.{metadata.get('precision')}")
    if arithmetic:
        lines.append(f"- {_t(language, 'trained_in', precision=Markdown(arithmetic))}")
    return lines + [""]


def _results_section(metadata: dict, language: str) -> list[str]:
    lines = [f"## {_t(language, 'results')}", ""]
    if (validation := _number(metadata.get("validation_accuracy"))) is not None:
        lines.append(f"- {_t(language, 'validation_accuracy', accuracy=f'{validation:.1%}')}")
    test, count = _number(metadata.get("test_accuracy")), _number(metadata.get("test_images"))
    if test is not None and count:
        margin = Z_95 * math.sqrt(max(test * (1 - test), 0.0) / count)
        lines.append(f"- {_t(language, 'test_accuracy_margin', accuracy=f'{test:.1%}', margin=f'{margin:.1%}')}")
    elif test is not None:
        lines.append(f"- {_t(language, 'test_accuracy', accuracy=f'{test:.1%}')}")
    if (seconds := _number(metadata.get("training_seconds"))) is not None:
        lines.append(f"- {_t(language, 'training_time', minutes=f'{seconds / 60:.1f}')}")
    if metadata.get("created"):
        created = re.sub(r"[^0-9: -]", "", str(metadata["created"])[:16].replace("T", " "))  # digits cannot be Markdown
        lines.append(f"- {_t(language, 'created', created=Markdown(created))}")
    per_class = per_class_accuracy(metadata)
    if per_class:
        lines += ["", f"| {_t(language, 'class')} | {_t(language, 'accuracy')} |", "|---|---:|"]
        lines += [f"| {markdown_text(i18n.class_label(language, name))} | {'—' if value is None else f'{value:.1%}'} |"
                  for name, value in per_class.items()]
    return lines + [""]


def _robustness_section(metadata: dict, language: str) -> list[str]:
    """Accuracy under the corruption suite, as training recorded it on the test split; nothing when not recorded."""
    recorded = metadata.get("robustness") if isinstance(metadata.get("robustness"), dict) else {}
    rows = [(corruption, value) for corruption in SUITE if (value := _number(recorded.get(corruption.name))) is not None]
    mean = _number(recorded.get("mean"))
    if not rows or mean is None:
        return []
    lines = [f"## {_t(language, 'robustness')}", "", _t(language, "robustness_intro", mean=f"{mean:.1%}"), ""]
    if (clean := _number(recorded.get("clean"))) is not None:
        lines.append(_t(language, "robustness_clean", accuracy=f"{clean:.1%}"))
        lines.append("")
    lines += [f"| {_t(language, 'corruption')} | {_t(language, 'accuracy')} |", "|---|---:|"]
    lines += [f"| {_t(language, f'corruptions.{corruption.kind}', level=f'{corruption.level:g}')} | {value:.1%} |"
              for corruption, value in rows]
    return lines + [""]


def _limits_section(metadata: dict, language: str) -> list[str]:
    names = metadata.get("class_names") or []
    lines = [f"## {_t(language, 'limits')}", "", f"- {_t(language, 'limit_classes', side=INPUT_SIDE, count=len(names))}"]
    test = _number(metadata.get("test_accuracy"))
    weak = [i18n.class_label(language, name) for name, value in per_class_accuracy(metadata).items()
            if value is not None and test is not None and value < test - WEAK_CLASS_GAP]
    if weak:
        lines.append(f"- {_t(language, 'limit_weak', names=_joined(language, weak))}")
    lines += [f"- {_t(language, 'limit_data')}", f"- {_t(language, 'limit_adversarial')}"]
    return lines + [""]


def model_card(metadata: dict, language: str = "en") -> str:
    """The whole card as Markdown: data, recipe, results, limits."""
    name = str(metadata.get("name") or "?")
    lines = [f"# {_t(language, 'title', name=name)}", ""]
    if metadata.get("shipped"):
        lines += [_t(language, "shipped"), ""]
    lines += _data_section(metadata, language) + _recipe_section(metadata, language)
    lines += _results_section(metadata, language) + _robustness_section(metadata, language)
    lines += _limits_section(metadata, language)
    return "\n".join(lines).rstrip() + "\n"
