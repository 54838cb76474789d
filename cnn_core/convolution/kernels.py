"""Classic hand-made kernels: what people used before CNNs learned their own.

Each preset exists as 3x3 and, where a larger version means something, 5x5. They are written the
way `cnn_core.convolution.ops.conv2d` applies them: as a cross-correlation (not flipped), so Sobel x responds
positively where the image gets brighter to the right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnn_core import i18n


@dataclass(frozen=True)
class KernelPreset:
    """A kernel family: a stable id (used in code and URLs), and one matrix per size.

    Its name and a sentence on what it does live in the translation tables
    (`locales/<language>/kernels.toml`, keys `<id>.name` and `<id>.description`).
    """

    name: str
    sizes: dict[int, tuple[tuple[float, ...], ...]]

    def label(self, language: str = "en") -> str:
        """The preset's display name in `language` ("Sobel x", "高斯模糊"...)."""
        return i18n.text(language, f"kernels.{self.name}.name")

    def description(self, language: str = "en") -> str:
        """One sentence, in `language`, on what the kernel does to a picture."""
        return i18n.text(language, f"kernels.{self.name}.description")

    def kernel(self, size: int = 3) -> np.ndarray:
        """A fresh float32 copy of the size x size matrix."""
        if size not in self.sizes:
            available = ", ".join(f"{s}x{s}" for s in self.sizes)
            raise ValueError(f"{self.label()} comes in {available}, not {size}x{size}.")
        return np.array(self.sizes[size], dtype=np.float32)


def _matrix(array: np.ndarray) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(float(value) for value in row) for row in array)


def _identity(size: int) -> np.ndarray:
    kernel = np.zeros((size, size))
    kernel[size // 2, size // 2] = 1.0
    return kernel


# Binomial rows approximate a Gaussian: [1 2 1] is sigma ~0.85, [1 4 6 4 1] is sigma 1.
_SMOOTH = {3: np.array([1.0, 2.0, 1.0]), 5: np.array([1.0, 4.0, 6.0, 4.0, 1.0])}
# The matching central differences; the 5x5 one is the derivative of the 5-tap binomial.
_DERIVATIVE = {3: np.array([-1.0, 0.0, 1.0]), 5: np.array([-1.0, -2.0, 0.0, 2.0, 1.0])}


def _gaussian(size: int) -> np.ndarray:
    row = _SMOOTH[size]
    return np.outer(row, row) / row.sum() ** 2  # sums to 1: brightness is kept


def _sobel_x(size: int) -> np.ndarray:
    return np.outer(_SMOOTH[size], _DERIVATIVE[size])  # smooth down the columns, differentiate across


_LAPLACIAN_5 = np.array([  # a Laplacian of Gaussian: finds blobs and edges at a coarser scale
    [0, 0, -1, 0, 0],
    [0, -1, -2, -1, 0],
    [-1, -2, 16, -2, -1],
    [0, -1, -2, -1, 0],
    [0, 0, -1, 0, 0],
])
_EMBOSS_5 = np.array([
    [-1, -1, -1, -1, 0],
    [-1, -1, -1, 0, 1],
    [-1, -1, 1, 1, 1],
    [-1, 0, 1, 1, 1],
    [0, 1, 1, 1, 1],
])

_PRESETS = [
    KernelPreset("identity", {n: _matrix(_identity(n)) for n in (3, 5)}),
    KernelPreset("box_blur", {n: _matrix(np.full((n, n), 1.0 / (n * n))) for n in (3, 5)}),
    KernelPreset("gaussian_blur", {n: _matrix(_gaussian(n)) for n in (3, 5)}),
    KernelPreset("sharpen", {3: _matrix(np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])),
                             5: _matrix(2 * _identity(5) - _gaussian(5))}),
    KernelPreset("laplacian", {3: _matrix(np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]])), 5: _matrix(_LAPLACIAN_5)}),
    KernelPreset("sobel_x", {n: _matrix(_sobel_x(n)) for n in (3, 5)}),
    KernelPreset("sobel_y", {n: _matrix(_sobel_x(n).T) for n in (3, 5)}),
    KernelPreset("emboss", {3: _matrix(np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])), 5: _matrix(_EMBOSS_5)}),
    KernelPreset("outline", {3: _matrix(np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]))}),
]

KERNEL_PRESETS: dict[str, KernelPreset] = {preset.name: preset for preset in _PRESETS}  # id -> preset
DEFAULT_PRESET = "sobel_x"  # edges are what first-layer CNN filters learn first


def preset_kernel(name: str, size: int = 3) -> np.ndarray:
    """The preset's size x size kernel by id ("sobel_x"), as a float32 copy; ValueError for unknown ids or sizes."""
    if name not in KERNEL_PRESETS:
        raise ValueError(f"Unknown kernel preset {name!r}; choose one of {', '.join(KERNEL_PRESETS)}.")
    return KERNEL_PRESETS[name].kernel(size)


@dataclass(frozen=True)
class PresetMatch:
    """The hand-made kernel most like a learned one: its id and size, the cosine, and whether its negative fits."""

    name: str
    size: int
    similarity: float  # cosine of the zero-mean kernels, in [0, 1] (the sign is in `negated`)
    negated: bool  # the learned filter looks like minus the preset (an edge of the opposite polarity)


def _zero_mean_unit(kernel: np.ndarray) -> np.ndarray | None:
    centred = np.asarray(kernel, dtype=np.float64) - np.mean(kernel)
    norm = float(np.linalg.norm(centred))
    return centred / norm if norm > 1e-12 else None  # a flat kernel (box blur) has no shape to compare


def closest_preset(kernel: np.ndarray) -> PresetMatch | None:
    """The preset of the same size whose zero-mean shape has the largest |cosine| with `kernel`'s.

    Subtracting the mean compares shapes, not overall brightness (a blur and an identity both sum to 1).
    None when the kernel is flat or no preset has its size.
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    learned = _zero_mean_unit(kernel)
    if learned is None or kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1]:
        return None
    best = None
    for preset in _PRESETS:
        if kernel.shape[0] not in preset.sizes:
            continue
        shape = _zero_mean_unit(preset.kernel(kernel.shape[0]))
        if shape is None:
            continue
        cosine = float((learned * shape).sum())
        if best is None or abs(cosine) > best.similarity:
            best = PresetMatch(preset.name, kernel.shape[0], abs(cosine), cosine < 0)
    return best
