"""How fast is cnn_core.convolution.ops? A 3x3 convolution + 2x2 max pool on a 1024x1024 RGB image, against SciPy.

    python bench/bench_ops.py [--repeats 21] [--side 1024]

Both sides do the same work and must give the same numbers (checked before timing): the uint8 image
is converted to float32, each channel is cross-correlated with the same 3x3 kernel ("valid": the
border is cropped), then 2x2 max pooling with stride 2.
- ours: cnn_core.convolution.ops.conv2d + cnn_core.convolution.ops.pool2d;
- reference: scipy.ndimage.correlate per channel + scipy.ndimage.maximum_filter, subsampled.
The two alternate in every round, so a busy machine slows both alike; medians are compared.
Goal (issue 2): ratio <= 1.0x and ours <= 50 ms.

It also times one full update of the convolution page's content for the same image (conv, ReLU, pool,
one window, and building + serialising the Plotly figures), which must stay well under a second.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnn_core.convolution import (
    figures,  # noqa: E402
    ops,
)

GOAL_RATIO = 1.0
GOAL_MS = 50.0


def ours(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return ops.pool2d(ops.conv2d(image, kernel), 2, mode="max")


def reference(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    pixels = image.astype(np.float32)
    conv = np.stack([ndimage.correlate(pixels[:, :, c], kernel, mode="constant")[1:-1, 1:-1]
                     for c in range(pixels.shape[2])], axis=-1)
    # An even-sized filter's window for output i covers inputs i-1 and i: take every odd output.
    pooled = ndimage.maximum_filter(conv, size=(2, 2, 1), mode="nearest")[1::2, 1::2]
    return pooled[: conv.shape[0] // 2, : conv.shape[1] // 2]


def page_update(image: np.ndarray, kernel: np.ndarray) -> None:
    """What the convolution page computes and draws after one widget change (without Streamlit)."""
    import plotly.io

    conv = ops.conv2d(image, kernel)
    activated = ops.relu(conv)
    pooled = ops.pool2d(activated, 2)
    row, col = conv.shape[0] // 2, conv.shape[1] // 2
    window = ops.window_at(image[:, :, 0], kernel, row, col)
    limit = figures.colour_limit(conv[:, :, 0])
    charts = [
        figures.image_figure(image, "Input", window),
        figures.feature_map_figure(conv[:, :, 0], "Convolution", limit, (row, col)),
        figures.feature_map_figure(activated[:, :, 0], "After ReLU", limit, colour_bar=False),
        figures.feature_map_figure(pooled[:, :, 0], "After pooling", limit, colour_bar=False),
        figures.matrix_figure(window.patch, "Patch", diverging=False),
        figures.matrix_figure(kernel, "Kernel"),
        figures.matrix_figure(window.products, "Products"),
    ]
    for chart in charts:  # st.plotly_chart serialises exactly like this
        plotly.io.to_json(chart, validate=False)


def median_ms(timings: list[float]) -> float:
    return statistics.median(timings) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--side", type=int, default=1024)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(args.side, args.side, 3), dtype=np.uint8)
    kernel = rng.normal(size=(3, 3)).astype(np.float32)

    expected, got = reference(image, kernel), ours(image, kernel)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)
    print(f"same result: {got.shape} max |difference| = {np.abs(got - expected).max():.2e}")

    timings: dict[str, list[float]] = {"ours": [], "reference": [], "conv only": [], "page update": []}
    for _ in range(args.repeats):
        for name, run in (("ours", lambda: ours(image, kernel)), ("reference", lambda: reference(image, kernel)),
                          ("conv only", lambda: ops.conv2d(image, kernel)),
                          ("page update", lambda: page_update(image, kernel))):
            start = time.perf_counter()
            run()
            timings[name].append(time.perf_counter() - start)

    ours_ms, reference_ms = median_ms(timings["ours"]), median_ms(timings["reference"])
    ratio = ours_ms / reference_ms
    print(f"{args.side}x{args.side} RGB, 3x3 conv + 2x2 max pool, median of {args.repeats}:")
    print(f"  ours (cnn_core.convolution.ops)          {ours_ms:8.1f} ms   (conv alone {median_ms(timings['conv only']):.1f} ms)")
    print(f"  reference (scipy.ndimage)    {reference_ms:8.1f} ms")
    print(f"  ratio ours / reference       {ratio:8.2f}x   goal <= {GOAL_RATIO:.1f}x and <= {GOAL_MS:.0f} ms: "
          f"{'met' if ratio <= GOAL_RATIO and ours_ms <= GOAL_MS else 'NOT met'}")
    print(f"  full page update (+ figures) {median_ms(timings['page update']):8.1f} ms   goal: well under 1000 ms")


if __name__ == "__main__":
    main()
