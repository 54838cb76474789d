"""cnn_core.images: every kind of upload, generated here, becomes the RGB image a person expects."""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
import tomllib
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from cnn_core import images
from cnn_core.images import ImageError, load_image

from helpers import image_corpus
from helpers.paths import PROJECT_ROOT, TESTS_DIR

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def _halves(size=(40, 20), left=RED, right=BLUE) -> Image.Image:
    """A wide image: left half one colour, right half another (easy to see rotations)."""
    array = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    array[:, : size[0] // 2] = left
    array[:, size[0] // 2 :] = right
    return Image.fromarray(array)


def _close(pixel, expected, tolerance=12) -> bool:
    return all(abs(int(a) - int(b)) <= tolerance for a, b in zip(pixel, expected))


@pytest.mark.parametrize("fmt, options", [("PNG", {}), ("TIFF", {}), ("BMP", {}), ("WEBP", {"lossless": True}),
                                          ("GIF", {}), ("TIFF", {"compression": "tiff_lzw"})])
def test_lossless_formats_round_trip_exactly(fmt, options):
    original = _halves()
    loaded = load_image(image_corpus.encode(original, fmt, **options))
    assert loaded.mode == "RGB" and loaded.size == (40, 20)
    np.testing.assert_array_equal(images.to_array(loaded), np.asarray(original))


def test_jpeg_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display": how phones store portrait photos
    data = image_corpus.encode(_halves(), "JPEG", exif=exif, quality=95)
    assert Image.open(io.BytesIO(data)).size == (40, 20)  # stored sideways ...
    loaded = images.to_array(load_image(data))
    assert loaded.shape == (40, 20, 3)  # ... shown upright: 20 wide, 40 tall
    # Turning clockwise puts the stored left half (red) on top and the right half (blue) below.
    assert _close(loaded[5, 10], RED) and _close(loaded[35, 10], BLUE)


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (8, 8), colour) for colour in (GREEN, RED, BLUE)]
    data = image_corpus.encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    assert (images.to_array(load_image(data)) == GREEN).all()


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_composited_on_white(mode):
    array = np.zeros((2, 3, 4), dtype=np.uint8)  # black everywhere
    array[:, 1, 3] = 128  # middle column half transparent
    array[:, 2, 3] = 255  # last column opaque
    image = Image.fromarray(array, "RGBA").convert(mode)
    loaded = images.to_array(load_image(image_corpus.encode(image, "PNG")))
    assert (loaded[:, 0] == 255).all()  # fully transparent black -> white, not black
    assert np.all(np.abs(loaded[:, 1].astype(int) - 127) <= 1)  # half black on white -> mid grey
    assert (loaded[:, 2] == 0).all()


def test_palette_with_transparent_index_is_white():
    image = Image.new("P", (4, 1), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)  # index 0 black, index 1 red
    image.putpixel((3, 0), 1)
    data = image_corpus.encode(image, "PNG", transparency=0)
    loaded = images.to_array(load_image(data))
    assert loaded[0, :3].tolist() == [list(WHITE)] * 3 and loaded[0, 3].tolist() == list(RED)
    # The same palette without transparency keeps index 0 black.
    assert images.to_array(load_image(image_corpus.encode(image, "PNG")))[0, 0].tolist() == [0, 0, 0]


def test_one_bit_image_becomes_black_and_white():
    image = Image.new("1", (4, 2), 0)
    image.putpixel((1, 0), 1)
    loaded = images.to_array(load_image(image_corpus.encode(image, "PNG")))
    assert loaded[0, 1].tolist() == [255, 255, 255] and loaded[1, 1].tolist() == [0, 0, 0]


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_sixteen_bit_grey_is_scaled_not_clipped(fmt):
    values = np.array([[0, 257, 30000, 65535]], dtype=np.uint16)
    data = image_corpus.encode(Image.fromarray(values), fmt)
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    loaded = images.to_array(load_image(data))[0, :, 0]
    # Pillow's plain convert("L") would clip 257 and 30000 to 255; scaling keeps the tones.
    assert loaded.tolist() == [0, 1, round(30000 / 257), 255]


def test_thirty_two_bit_tiff_is_stretched():
    values = np.array([[-100, 0, 100_000]], dtype=np.int32)
    loaded = images.to_array(load_image(image_corpus.encode(Image.fromarray(values), "TIFF")))[0, :, 0]
    assert loaded.tolist() == [0, round(100 * 255 / 100_100), 255]


def test_cmyk_jpeg_becomes_rgb():
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # no cyan, full magenta + yellow = red
    data = image_corpus.encode(cmyk, "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    loaded = load_image(data)
    assert loaded.mode == "RGB" and _close(loaded.getpixel((8, 8)), RED)


def test_greyscale_jpeg_and_rgb_jpeg():
    grey = load_image(image_corpus.encode(Image.new("L", (8, 8), 100), "JPEG"))
    assert grey.mode == "RGB" and _close(grey.getpixel((4, 4)), (100, 100, 100), 2)
    colour = load_image(image_corpus.encode(_halves(), "JPEG", quality=95))
    assert _close(colour.getpixel((5, 10)), RED) and _close(colour.getpixel((35, 10)), BLUE)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "TIFF", "WEBP"])
def test_truncated_files_are_refused(fmt):
    noise = np.random.default_rng(0).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    data = image_corpus.encode(Image.fromarray(noise), fmt)
    with pytest.raises(ImageError, match="incomplete or damaged|not a picture"):
        load_image(data[: len(data) // 2])


@pytest.mark.parametrize("data", [b"", b"hello, this is plain text", bytes(range(256)) * 8,
                                  b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_garbage_is_refused_with_a_readable_message(data):
    with pytest.raises(ImageError) as caught:
        load_image(data)
    message = str(caught.value)
    assert message[0].isupper() and ("PNG" in message or "empty" in message or "damaged" in message)


def test_eps_is_refused_even_though_pillow_recognises_it():
    data = image_corpus.encode(Image.new("RGB", (4, 4), RED), "EPS")
    assert Image.open(io.BytesIO(data)).format == "EPS"  # Pillow's default would go on to run Ghostscript
    with pytest.raises(ImageError, match="EPS"):
        load_image(data)
    # A binary-header DOS EPS is refused as well.
    with pytest.raises(ImageError, match="EPS"):
        load_image(b"\xc5\xd0\xd3\xc6" + b"\x00" * 28)


def test_pdf_is_refused():
    data = image_corpus.encode(Image.new("RGB", (4, 4), RED), "PDF")
    with pytest.raises(ImageError, match="PDF"):
        load_image(data)


def test_formats_outside_the_allowlist_are_refused():
    data = image_corpus.encode(Image.new("RGB", (16, 16), RED), "ICO")
    assert Image.open(io.BytesIO(data)).format == "ICO"
    with pytest.raises(ImageError, match="not a picture we can read"):
        load_image(data)


@pytest.mark.parametrize("side", [8000, 30000])  # over our 50 MP cap; over Pillow's own 179 MP error limit
def test_decompression_bombs_are_refused_from_the_header(side):
    with pytest.raises(ImageError, match="megapixels"):
        # A valid 8-bit greyscale PNG that claims side x side pixels but holds almost no data.
        load_image(image_corpus.png(side, side, 8, 0, zlib.compress(b"\0" * 64)))


@pytest.mark.parametrize("side", [12, 20])  # between Pillow's warning and error limits; above the error limit
def test_pillow_bomb_warning_becomes_an_error(monkeypatch, side):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    data = image_corpus.encode(Image.new("RGB", (side, side), RED), "PNG")
    with pytest.raises(ImageError, match="too large|limit"):
        load_image(data)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    assert load_image(data).size == (side, side)


def test_fit_for_display_shrinks_only_large_images():
    large = Image.new("RGB", (3000, 1500), RED)
    shrunk, was_shrunk = images.fit_for_display(large)
    assert was_shrunk and shrunk.size == (images.MAX_DISPLAY_SIDE, images.MAX_DISPLAY_SIDE // 2)
    small, was_shrunk = images.fit_for_display(Image.new("RGB", (300, 200), RED))
    assert not was_shrunk and small.size == (300, 200)
    assert images.fit_for_display(large, max_side=100)[0].size == (100, 50)


def test_array_helpers():
    image = _halves()
    rgb = images.to_array(image)
    assert rgb.dtype == np.uint8 and rgb.shape == (20, 40, 3) and rgb.flags.writeable
    grey = images.to_grayscale_array(image)
    # ITU-R 601 luma of pure red and pure blue.
    assert grey.shape == (20, 40) and grey[0, 0] == round(0.299 * 255) and grey[0, -1] == round(0.114 * 255)
    np.testing.assert_array_equal(images.to_grayscale_array(rgb), grey)  # arrays work too


# --- Hostile input: a generated corpus (tests/helpers/image_corpus.py) and fuzzing. Every file ends as an RGB image
# or an ImageError with a message: never another exception, a hang or memory out of proportion. ---

CORPUS = image_corpus.build_corpus()


def check_outcome(data: bytes) -> Image.Image | ImageError:
    """load_image's answer: an RGB image or an ImageError (any other exception fails the calling test)."""
    try:
        image = load_image(data)
    except ImageError as error:
        message = str(error)
        assert len(message) > 20 and message[0].isupper() and message.endswith("."), message
        return error
    assert isinstance(image, Image.Image) and image.mode == "RGB" and image.width >= 1 and image.height >= 1
    array = images.to_array(image)
    assert array.dtype == np.uint8 and array.shape == (image.height, image.width, 3)
    return image


@pytest.mark.parametrize("sample", CORPUS, ids=[sample.name for sample in CORPUS])
def test_every_corpus_file_becomes_rgb_or_an_image_error(sample):
    outcome = check_outcome(sample.data)
    if isinstance(outcome, ImageError):
        assert sample.expect in ("error", "any"), f"{sample.name} was refused: {outcome}"
        assert sample.message is None or sample.message in str(outcome), str(outcome)
    else:
        assert sample.expect in ("rgb", "any"), f"{sample.name} was accepted as a {outcome.size} picture"
        assert sample.size is None or outcome.size == sample.size


DOCUMENT = ("not a photo or bitmap picture. Documents and vector files are not accepted; export the page as a PNG, "
            "JPEG, WebP, GIF, BMP or TIFF image instead.")
# What a person reads for some refused corpus files, spelled out here rather than taken from the catalogue.
ENGLISH_REFUSALS = {
    "zlib-bomb-64mp.png": "This image is 8000x8000 pixels (64 megapixels); the limit is 50 megapixels. "
                          "Please resize it and try again.",
    "header-65535-square.png": "This image is too large to open safely: its header promises far more pixels than a "
                               "picture needs (a 'decompression bomb'). Please resize it to under 50 megapixels and "
                               "try again.",
    "text.png": "This file is not a picture we can read. Please upload a PNG, JPEG, WebP, GIF, BMP or TIFF image.",
    "png-short-idat.png": "The image file is incomplete or damaged (perhaps cut off while downloading or copying), "
                          "so it cannot be decoded. Try saving or exporting it again.",
    "empty.png": "The file is empty. Please choose a picture file.",
    "document.pdf.png": f"This looks like a PDF document, {DOCUMENT}",
    "drawing.eps.png": f"This looks like a PostScript/EPS file, {DOCUMENT}",
    "dos-eps.png": f"This looks like an EPS file, {DOCUMENT}",
    "drawing.svg.png": f"This looks like an SVG drawing, {DOCUMENT}",
    "page.xml.png": f"This looks like an XML/SVG file, {DOCUMENT}",
}


def test_every_refusal_reads_in_both_languages():
    from cnn_core import i18n

    reasons, spelled_out = {}, set()
    for sample in CORPUS:
        outcome = check_outcome(sample.data)
        if isinstance(outcome, ImageError):
            reasons.setdefault(outcome.key, outcome)
            if sample.name in ENGLISH_REFUSALS:
                assert str(outcome) == ENGLISH_REFUSALS[sample.name], sample.name
                spelled_out.add(sample.name)
    assert spelled_out == set(ENGLISH_REFUSALS)  # each of them was refused
    assert len(reasons) >= 6  # damaged, unreadable, bombs, documents... each has its own sentence
    for key, error in reasons.items():
        assert str(error) == i18n.text("en", key, **error.values)
        chinese = i18n.text("zh", key, **error.values)
        assert any("\u4e00" <= char <= "\u9fff" for char in chinese) and chinese != str(error), key


def test_the_corpus_is_broad():
    kinds = {sample.expect for sample in CORPUS}
    assert kinds == {"rgb", "error", "any"} and len(CORPUS) >= 300
    names = " ".join(sample.name for sample in CORPUS)
    for kind in ("bomb", "truncated", "mutated", "16-bit", "cmyk", "palette", "animated", "65535", "pdf", "eps",
                 "postscript", "zip.png", "html.png", "exif", "scan-bomb", "very-wide"):
        assert kind in names, kind


# A child process decodes the whole corpus, timing each file and watching its own peak memory (ru_maxrss),
# then decodes the largest pictures we accept (just under MAX_PIXELS, the heaviest modes) one by one.
CORPUS_RUNNER = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from helpers import image_corpus
from cnn_core.images import ImageError, MAX_PIXELS, load_image

def reset_peak():
    try:  # Linux: writing 5 to clear_refs resets the peak resident size (VmHWM)
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass

def peak_mb():
    try:
        with open("/proc/self/status") as handle:
            return next(int(line.split()[1]) for line in handle if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

corpus = image_corpus.build_corpus()
load_image(image_corpus.encode(image_corpus.noise(64, 64), "PNG"))  # warm up Pillow's plugins
report = {"files": len(corpus), "bytes": sum(len(sample.data) for sample in corpus), "slowest": [0.0, ""],
          "other_errors": []}
reset_peak()
baseline = peak_mb()
for sample in corpus:
    start = time.perf_counter()
    try:
        load_image(sample.data)
    except ImageError:
        pass
    except BaseException as error:
        report["other_errors"].append(f"{sample.name}: {type(error).__name__}: {error}")
    seconds = time.perf_counter() - start
    report["slowest"] = max(report["slowest"], [seconds, sample.name])
report["corpus_growth_mb"] = peak_mb() - baseline

side = int(MAX_PIXELS ** 0.5) - 1  # the largest square we accept
largest = {"grey": (8, 0), "rgba": (8, 6), "16-bit grey + transparency": (16, 0)}
report["largest"] = {}
for name, (depth, colour) in largest.items():
    extra = image_corpus.png_chunk(b"tRNS", b"\\0\\1") if depth == 16 else b""
    data = image_corpus.zero_png(side, side, depth, colour, extra)
    reset_peak()
    before = peak_mb()
    image = load_image(data)
    assert image.size == (side, side) and image.mode == "RGB"
    del image
    report["largest"][name] = peak_mb() - before
report["largest_pixels"] = side * side
print(json.dumps(report))
"""


def test_the_corpus_decodes_quickly_and_within_bounded_memory():
    finished = subprocess.run(
        [sys.executable, "-c", CORPUS_RUNNER, str(TESTS_DIR)], cwd=PROJECT_ROOT,
        capture_output=True, text=True, timeout=300,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    report = json.loads(finished.stdout.strip().splitlines()[-1])
    print(json.dumps(report, indent=1))  # the figures quoted in the README's Reliability section
    assert report["other_errors"] == []
    # No hang: the slowest file takes a few milliseconds here; the JPEG scan bomb, if it got through,
    # would take about a minute (and a 20 MB one the better part of an hour).
    assert report["slowest"][0] < 10.0, report["slowest"]
    # Bombs are refused from their headers: the whole corpus needs no more memory than a small picture.
    assert report["corpus_growth_mb"] < 64, report
    # The largest accepted pictures need a few 8-bit copies (RGBA + RGB: 7-9 bytes per pixel), not the
    # float64 arrays and RGBA composites that once took 24 (RGBA) to 36 (16-bit) bytes per pixel: 1.7 GB.
    bytes_per_pixel = max(report["largest"].values()) * 2**20 / report["largest_pixels"]
    assert bytes_per_pixel < 10, report["largest"]


def test_pillow_exceptions_of_any_type_become_image_errors(monkeypatch):
    data = image_corpus.encode(Image.new("RGB", (4, 4)), "PNG")
    for error in (ZeroDivisionError("division by zero"), KeyError(7), TypeError("bad"), RecursionError()):
        def broken_open(*args, error=error, **kwargs):
            raise error

        monkeypatch.setattr(Image, "open", broken_open)
        with pytest.raises(ImageError, match="damaged"):
            load_image(data)

    def out_of_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(Image, "open", out_of_memory)
    with pytest.raises(ImageError, match="memory"):
        load_image(data)


def test_jpeg_scan_bombs_are_refused_but_progressive_photos_are_not():
    with pytest.raises(ImageError, match="scans"):
        load_image(image_corpus.scan_bomb(images.MAX_JPEG_SCANS))
    progressive = image_corpus.encode(image_corpus.noise(64, 64), "JPEG", progressive=True)
    assert progressive.count(b"\xff\xda") >= 5 and load_image(progressive).size == (64, 64)


FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SIGNATURES = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xc2", b"GIF89a", b"GIF87a", b"BM",
              b"II*\x00", b"MM\x00*", b"RIFF\x00\x01\x00\x00WEBPVP8 ", b"RIFF\x00\x01\x00\x00WEBPVP8L",
              b"RIFF\x00\x01\x00\x00WEBPVP8X"]
SEED_FILES = image_corpus.seed_files()


@FUZZ
@given(st.binary(max_size=4096))
def test_fuzz_any_bytes(data):
    check_outcome(data)


@FUZZ
@given(st.sampled_from(SIGNATURES), st.binary(max_size=2048))
def test_fuzz_bytes_after_a_format_signature(signature, rest):
    check_outcome(signature + rest)


@FUZZ
@given(st.sampled_from(range(len(SEED_FILES))), st.integers(0, 2**32 - 1))
def test_fuzz_mutations_of_valid_files(index, seed):
    check_outcome(image_corpus.mutate(SEED_FILES[index], random.Random(seed)))


@FUZZ
@given(st.sampled_from(range(len(SEED_FILES))), st.lists(st.tuples(st.integers(0, 4095), st.binary(min_size=1, max_size=4)),
                                                         min_size=1, max_size=6))
def test_fuzz_overwritten_header_fields(index, edits):
    data = bytearray(SEED_FILES[index])
    for position, value in edits:
        position %= min(len(data), 256)  # headers and the first segments: where parsers trust sizes
        data[position:position + len(value)] = value
    check_outcome(bytes(data))


def test_uploads_are_capped_in_the_streamlit_config():
    config = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())
    # Streamlit refuses larger files in the browser ("File must be 20.0MB or smaller."), before our code runs.
    assert 1 <= config["server"]["maxUploadSize"] <= 20


# --- load_shrunk: decoded once, straight to the size the page needs (issue 14). ---


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "RGBA", "I;16"])
def test_load_shrunk_matches_a_full_decode_shrunk_afterwards(mode):
    from cnn_core.images import fit_for_display, load_image, load_shrunk

    rows, columns = np.mgrid[0:1500, 0:2300]  # a smooth picture with edges, like a photo (noise would alias)
    smooth = np.stack([columns / 9 % 256, rows / 6 % 256, 128 + 100 * np.sin(rows / 80) * np.cos(columns / 60)], -1)
    rgb = Image.fromarray(smooth.astype(np.uint8))
    source = rgb if mode == "RGB" else rgb.convert("RGBA") if mode == "RGBA" else rgb.convert(
        "P" if mode == "P" else "L").convert(mode) if mode != "I;16" else Image.fromarray(
        (np.asarray(rgb.convert("L"), dtype=np.uint16) * 257))
    data = _png_bytes(source)
    shrunk, size = load_shrunk(data, 500)
    reference = fit_for_display(load_image(data), 500)[0]  # the old way: full-size RGB, then Lanczos
    assert size == (2300, 1500) and shrunk.size == reference.size == (500, 326) and shrunk.mode == "RGB"
    difference = np.abs(np.asarray(shrunk, dtype=int) - np.asarray(reference, dtype=int))
    # Box-then-Lanczos against Lanczos: the same picture (a dithered 1-bit image is noise, which aliases a little).
    assert difference.mean() < (8 if mode == "1" else 2)


def test_load_shrunk_keeps_small_images_and_applies_exif_orientation():
    from cnn_core.images import load_image, load_shrunk

    small = Image.new("RGB", (30, 20), (10, 200, 30))
    image, size = load_shrunk(_png_bytes(small), 500)
    assert size == (30, 20) and np.array_equal(np.asarray(image), np.asarray(small))
    photo = Image.new("RGB", (1600, 900), (250, 250, 250))
    photo.paste((0, 0, 0), (0, 0, 100, 100))  # a dark corner to follow
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", exif=exif, quality=95)
    image, size = load_shrunk(buffer.getvalue(), 400)
    full = load_image(buffer.getvalue())
    assert size == full.size == (900, 1600) and max(image.size) == 400 and image.size[0] < image.size[1]
    assert np.asarray(image)[:20, -20:].mean() < 60  # the dark corner turned to the top right, as in `full`
    assert np.asarray(full)[:100, -100:].mean() < 60
