"""Bundled sample images, so every page works offline without an upload.

Two sources, both license-clean:
- Photos in `cnn_core/sample_photos/`, each public domain or CC0 (`sample_photos/LICENSES.md` says
  which and from whom; they came from scikit-image's sample data, which is no longer a dependency).
- Pictures drawn here (shapes, checkerboard, stripes): no license question at all, and they make
  edges and frequencies easy to see.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

from cnn_core import i18n


@dataclass(frozen=True)
class Sample:
    """A sample image: its stable name (what code and tests pass around), its entry in the
    translation tables (`locales/<language>/samples.toml`: `<text_key>.name` and `.credit`),
    and how to make it."""

    name: str
    text_key: str
    make: Callable[[], Image.Image]


# --- Drawn samples ------------------------------------------------------------------------------


def _shapes() -> Image.Image:
    """Flat shapes on a dark ground: edges in every direction, corners and flat areas (clear in grey too)."""
    image = Image.new("RGB", (256, 256), (24, 24, 24))
    draw = ImageDraw.Draw(image)
    draw.rectangle((24, 24, 112, 112), fill=(230, 60, 50))
    draw.ellipse((144, 24, 232, 112), fill=(40, 90, 220))
    draw.polygon([(68, 144), (24, 232), (112, 232)], fill=(250, 210, 40))
    for offset in range(0, 88, 12):  # diagonal lines: a test for Sobel x/y and dilation
        draw.line((144 + offset, 144, 144, 144 + offset), fill=(255, 255, 255), width=3)
    draw.line((144, 232, 232, 144), fill=(120, 220, 160), width=5)
    return image


def _checkerboard() -> Image.Image:
    """32-pixel black and white squares: perfect edges, and a lesson in stride and pooling."""
    squares = (np.indices((256, 256)) // 32).sum(axis=0) % 2
    return Image.fromarray(np.repeat((squares * 255).astype(np.uint8)[:, :, None], 3, axis=2))


def _stripes() -> Image.Image:
    """Stripes that get finer to the right over a vertical colour gradient: blur erases the fine ones."""
    columns = np.arange(256, dtype=np.float64)
    frequency = 0.02 + columns / 256 * 0.4  # cycles per pixel, rising left to right
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * np.cumsum(frequency))
    rows = np.linspace(0, 1, 192)[:, None]
    red = 255 * stripes[None, :] * (1 - rows)
    blue = 255 * stripes[None, :] * rows
    green = np.broadcast_to(96 * stripes[None, :], red.shape)
    return Image.fromarray(np.stack([red, green, blue], axis=-1).round().astype(np.uint8))


# --- Bundled photos ------------------------------------------------------------------------------

PHOTO_FOLDER = Path(__file__).resolve().parent / "sample_photos"
# File name and stable name; the credits are in samples.toml, whose table for each photo is named after its file.
_PHOTOS = (
    ("chelsea.jpg", "Cat (Chelsea)"),
    ("astronaut.jpg", "Astronaut"),
    ("coffee.jpg", "Coffee"),
    ("camera.png", "Camera man (greyscale)"),
    ("brick.png", "Brick wall (greyscale)"),
)


def _photo_loader(path: Path) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        with Image.open(path, formats=["PNG", "JPEG"]) as image:
            return image.convert("RGB")

    return load


_DRAWN = (
    Sample("Shapes", "shapes", _shapes),
    Sample("Checkerboard", "checkerboard", _checkerboard),
    Sample("Stripes", "stripes", _stripes),
)


def available_samples() -> dict[str, Sample]:
    """All samples, photos first."""
    samples = {name: Sample(name, Path(file_name).stem, _photo_loader(PHOTO_FOLDER / file_name))
               for file_name, name in _PHOTOS}
    samples.update({sample.name: sample for sample in _DRAWN})
    return samples


def sample_names() -> list[str]:
    """Stable names of the available samples (pass them to load_sample); the first is a good default."""
    return list(available_samples())


def sample_label(name: str, language: str = "en") -> str:
    """What a menu shows for the sample, in `language` ("Cat (Chelsea)", "猫（Chelsea）")."""
    return i18n.text(language, f"samples.{_lookup(name).text_key}.name")


def sample_credit(name: str, language: str = "en") -> str:
    """Where a sample comes from and its license, in `language`."""
    return i18n.text(language, f"samples.{_lookup(name).text_key}.credit")


def load_sample(name: str) -> Image.Image:
    """A fresh RGB copy of the named sample image."""
    return _cached(name).copy()


@functools.lru_cache(maxsize=16)
def _cached(name: str) -> Image.Image:
    # Samples are immutable public images, so one decoded copy per process is safe to share.
    return _lookup(name).make()


def _lookup(name: str) -> Sample:
    samples = available_samples()
    if name not in samples:
        raise ValueError(f"Unknown sample {name!r}; choose one of {', '.join(samples)}.")
    return samples[name]
