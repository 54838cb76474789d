"""Safe image intake: any picture a person uploads becomes a plain RGB image, or a clear ImageError.

Every page that takes an image calls `load_image`. It is deliberately strict:
- Only the raster formats browsers produce (PNG, JPEG, WebP, GIF, BMP, TIFF). Pillow can also open
  EPS/PostScript and a few others by running external programs (Ghostscript); an allowlist passed to
  `Image.open(formats=...)` means those parsers are never even tried.
- Decompression bombs (a tiny file that expands to gigapixels) are refused from the header, before
  any pixel is decoded.
- What users expect to see is what they get: the EXIF orientation applied (phone photos), the first
  frame of an animation, transparent areas on white, and 16-bit scans scaled to 8 bits rather than
  clipped to white.
"""

from __future__ import annotations

import io
import struct
import warnings

import numpy as np
from PIL import Image, ImageOps

ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
# 50 megapixels covers every phone and most cameras (a 48 MP photo is 8000x6000) while keeping the
# decoded RGB image under 150 MB, which a small cloud instance can still hold.
MAX_PIXELS = 50_000_000
# Pages compute on at most this many pixels per side; a 1024x1024 image updates in well under a second.
MAX_DISPLAY_SIDE = 1024

FORMAT_LIST = "PNG, JPEG, WebP, GIF, BMP or TIFF"

# File signatures of things people upload by mistake, to say what they are rather than "unreadable".
_KNOWN_REFUSALS = (
    (b"%PDF", "a PDF document"),
    (b"%!PS", "a PostScript/EPS file"),
    (b"\xc5\xd0\xd3\xc6", "an EPS file"),
    (b"<svg", "an SVG drawing"),
    (b"<?xml", "an XML/SVG file"),
)


class ImageError(ValueError):
    """An upload that is not an image we accept; the message says why and what to do instead."""


def load_image(data: bytes) -> Image.Image:
    """Decode uploaded bytes into an RGB image: EXIF-transposed, frame 0, alpha on white, 16-bit scaled."""
    if not data:
        raise ImageError("The file is empty. Please choose a picture file.")
    _refuse_documents(data)
    try:
        # Turn Pillow's bomb *warning* (between MAX_IMAGE_PIXELS and twice that) into a refusal too.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            _check_size(image)
            image.load()  # decode now: truncated or corrupt data fails here, not later on a page
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(
            "This image is too large to open safely: its header promises far more pixels than a picture "
            f"needs (a 'decompression bomb'). Please resize it to under {_megapixels(_pixel_limit())} and try again."
        ) from None
    except Image.UnidentifiedImageError:
        raise ImageError(f"This file is not a picture we can read. Please upload a {FORMAT_LIST} image.") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error):
        raise ImageError(
            "The image file is incomplete or damaged (perhaps cut off while downloading or copying), "
            "so it cannot be decoded. Try saving or exporting it again."
        ) from None
    return _to_rgb(_apply_orientation(image))


def _refuse_documents(data: bytes) -> None:
    """A friendly refusal for documents and vector files, before any parser looks at them."""
    head = data[:1024].lstrip()
    for signature, description in _KNOWN_REFUSALS:
        if head[: len(signature)].lower() == signature.lower():
            raise ImageError(
                f"This looks like {description}, not a photo or bitmap picture. Documents and vector "
                f"files are not accepted; export the page as a {FORMAT_LIST} image instead."
            )


def _check_size(image: Image.Image) -> None:
    """Refuse empty images and ones above MAX_PIXELS, from the header alone."""
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageError("This image has no pixels.")
    if width * height > _pixel_limit():
        raise ImageError(
            f"This image is {width}x{height} pixels ({_megapixels(width * height)}); the limit is "
            f"{_megapixels(_pixel_limit())}. Please resize it and try again."
        )


def _pixel_limit() -> int:
    """Our cap, or Pillow's global one if someone lowered it."""
    return min(MAX_PIXELS, Image.MAX_IMAGE_PIXELS or MAX_PIXELS)


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.3g} megapixels"


def _apply_orientation(image: Image.Image) -> Image.Image:
    """Rotate/flip as the EXIF orientation tag says (phones store photos sideways and set this tag)."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - a malformed EXIF block must not make a viewable photo unusable
        return image


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB; transparency is composited on white."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        image = _high_depth_to_8bit(image)
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")  # resolves palette/grey transparency entries into an alpha channel
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    try:
        return image.convert("RGB")  # palette, 1-bit, L, CMYK, YCbCr ...
    except (ValueError, OSError):
        raise ImageError(f"Images in the {image.mode} colour mode are not supported; please save it as RGB.") from None


def _high_depth_to_8bit(image: Image.Image) -> Image.Image:
    """16-bit or 32-bit greyscale to 8-bit 'L' by scaling (Pillow's own convert would clip at 255)."""
    values = np.asarray(image, dtype=np.float64)
    if image.mode.startswith("I;16") or (values.min() >= 0 and values.max() <= 65535 and image.mode == "I"):
        scaled = values / 257.0  # 65535 -> 255 exactly
    elif image.mode == "F" and values.min() >= 0 and values.max() <= 1:
        scaled = values * 255.0  # floating-point images are usually 0..1
    else:
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    grey = Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="L")
    if "transparency" in image.info:
        grey.info["transparency"] = int(round(image.info["transparency"] / 257))
    return grey


def fit_for_display(image: Image.Image, max_side: int = MAX_DISPLAY_SIDE) -> tuple[Image.Image, bool]:
    """A copy no larger than max_side on its longer side (aspect kept), and whether it was shrunk."""
    if max(image.size) <= max_side:
        return image.copy(), False
    scale = max_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    # reducing_gap first shrinks by a fast box filter, then Lanczos: same look, much faster on big photos.
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0), True


def to_array(image: Image.Image) -> np.ndarray:
    """The image as a writable uint8 HxWx3 array."""
    return np.array(image.convert("RGB"), dtype=np.uint8)


def to_grayscale_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """An image or uint8 HxWx3 array as a uint8 HxW luminance array (ITU-R 601: 0.299 R + 0.587 G + 0.114 B)."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(np.asarray(image, dtype=np.uint8))
    return np.array(image.convert("L"), dtype=np.uint8)
