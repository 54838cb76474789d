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

import ctypes
import ctypes.util
import io
import threading
import warnings

import numpy as np
from PIL import Image, ImageOps

from cnn_core import i18n

ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
# The file name endings the pages' uploaders accept: the formats above, by their usual extensions.
UPLOAD_TYPES = ("png", "jpg", "jpeg", "webp", "gif", "bmp", "tif", "tiff")
# 50 megapixels covers every phone and most cameras (a 48 MP photo is 8000x6000) while keeping the
# decoded RGB image under 150 MB, which a small cloud instance can still hold.
MAX_PIXELS = 50_000_000
# Pages compute on at most this many pixels per side; a 1024x1024 image updates in well under a second.
MAX_DISPLAY_SIDE = 1024
# Progressive JPEGs have ~10 scans; thousands of tiny scans make libjpeg re-decode the image thousands of times.
MAX_JPEG_SCANS = 100
# High-bit-depth images are scaled to 8 bits this many pixels at a time, so a 50 MP scan needs no float copy.
CHUNK_PIXELS = 1 << 20

# Pictures above this many pixels (4 MP: 16 MB decoded, as Pillow keeps RGB in 4 bytes a pixel) are decoded
# one at a time server-wide, and the freed memory is handed back after each: a few visitors uploading big
# photos at once then cost one decode's memory (~200 MB at 49 MP), not one each.
RELEASE_PIXELS = 4_000_000
_BIG_DECODE = threading.Lock()
ORIGINAL_SIZE_KEY = "cnn_studio_original_size"  # load_shrunk's note in Image.info, taken off before returning
HIGH_DEPTH_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
ORIENTATION_TAG = 0x0112

# File signatures of things people upload by mistake, to say what they are rather than "unreadable".
# The second item names the kind in locales/<language>/images.toml ("kind_pdf" ...).
_KNOWN_REFUSALS = (
    (b"%PDF", "pdf"),
    (b"%!PS", "postscript"),
    (b"\xc5\xd0\xd3\xc6", "eps"),
    (b"<svg", "svg"),
    (b"<?xml", "xml"),
)


class ImageError(i18n.TranslatableError, ValueError):
    """An upload that is not an image we accept; the message says why and what to do instead.

    `key` and `values` let a page say it in the reader's language (`i18n.text(language, key, **values)`);
    `str(error)` is the English text from the same table.
    """

    section = "images"


def load_image(data: bytes) -> Image.Image:
    """Decode uploaded bytes into an RGB image: EXIF-transposed, frame 0, alpha on white, 16-bit scaled."""
    return _decode(data, None)


def load_shrunk(data: bytes, max_side: int = MAX_DISPLAY_SIDE) -> tuple[Image.Image, tuple[int, int]]:
    """`load_image`, but no larger than `max_side` per side, straight from the file; also the original size.

    Pages never need more than MAX_DISPLAY_SIDE, so a 49-megapixel photo never exists as a full RGB copy:
    JPEGs decode at 1/2, 1/4 or 1/8 scale (Pillow's draft), other formats are shrunk band by band in
    their own compact mode (a flat 7000x7000 PNG: 49 MB decoded, a few MB more, instead of 147 MB + copies).
    """
    image = _decode(data, max_side)
    return image, image.info.pop(ORIGINAL_SIZE_KEY, image.size)


def _decode(data: bytes, max_side: int | None) -> Image.Image:
    """The decoding behind load_image / load_shrunk (max_side None: full size)."""
    if not data:
        raise ImageError("empty")
    _refuse_documents(data)
    _refuse_scan_bombs(data)
    try:
        # Turn Pillow's bomb *warning* (between MAX_IMAGE_PIXELS and twice that) into a refusal too.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Corrupt EXIF data" and the like: the answer is below
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            _check_size(image)
            opened, pixels = [image], image.width * image.height
            del image  # from here on `opened` holds the only reference, which _decode_opened takes over
            if pixels <= RELEASE_PIXELS:
                return _decode_opened(opened, max_side)
            with _BIG_DECODE:  # one big picture at a time on the whole server, its memory handed back after
                try:
                    return _decode_opened(opened, max_side)
                finally:
                    opened.clear()
                    _release_freed_memory()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError("bomb", limit=_megapixels(_pixel_limit())) from None
    except Image.UnidentifiedImageError:
        raise ImageError("unreadable") from None
    except MemoryError:
        raise ImageError("memory") from None
    except Exception:  # noqa: BLE001 - see below
        # Pillow's parsers answer hostile bytes with OSError, SyntaxError, EOFError, struct.error, but also
        # IndexError, KeyError, TypeError, ZeroDivisionError... All of them mean "this file is damaged".
        raise ImageError("damaged") from None


def _decode_opened(opened: list[Image.Image], max_side: int | None) -> Image.Image:
    """Decode an opened image (its size already checked) to RGB, at most max_side per side if given.

    It comes in a list that this function empties, so no caller keeps the decoded original alive: a 16-bit
    picture's 8-bit copy then replaces it instead of joining it (~100 MB less at 50 MP).
    """
    image = opened.pop()
    header_size = image.size
    if max_side:
        image.draft("RGB", (max_side, max_side))  # JPEG only: decode at a smaller scale, never below max_side
    image.load()  # decode now: truncated or corrupt data fails here, not later on a page
    _apply_orientation(image)
    if image.mode in HIGH_DEPTH_MODES:
        image = _high_depth_to_8bit(image)  # rebinding lets the 16/32-bit original go at once
    return _fitted_rgb(image, max_side, header_size)


def _refuse_documents(data: bytes) -> None:
    """A friendly refusal for documents and vector files, before any parser looks at them."""
    head = data[:1024].lstrip()
    for signature, description in _KNOWN_REFUSALS:  # description: the kind's key suffix
        if head[: len(signature)].lower() == signature.lower():
            raise ImageError(f"document_{description}")


def _refuse_scan_bombs(data: bytes) -> None:
    """Refuse a JPEG with more scans than any camera or editor writes (each scan re-decodes the whole image)."""
    if data[:2] == b"\xff\xd8":
        # Entropy-coded data stuffs every 0xFF byte with 0x00, so 0xFF 0xDA only ever starts a scan (SOS).
        scans = data.count(b"\xff\xda")
        if scans > MAX_JPEG_SCANS:
            raise ImageError("scan_bomb", scans=f"{scans:,}")


def _check_size(image: Image.Image) -> None:
    """Refuse empty images and ones above MAX_PIXELS, from the header alone."""
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageError("no_pixels")
    if width * height > _pixel_limit():
        raise ImageError("too_many_pixels", width=width, height=height, megapixels=_megapixels(width * height),
                         limit=_megapixels(_pixel_limit()))


def _pixel_limit() -> int:
    """Our cap, or Pillow's global one if someone lowered it."""
    return min(MAX_PIXELS, Image.MAX_IMAGE_PIXELS or MAX_PIXELS)


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.3g}"  # the tables add the unit: "50 megapixels" / "5000 万像素"


def _apply_orientation(image: Image.Image) -> None:
    """Rotate/flip in place as the EXIF orientation tag says (phones store photos sideways and set this tag)."""
    try:
        # exif_transpose would return a full copy even for upright pictures: only call it when needed.
        if image.getexif().get(ORIENTATION_TAG, 1) in range(2, 9):
            ImageOps.exif_transpose(image, in_place=True)
    except Exception:  # noqa: BLE001 - a malformed EXIF block must not make a viewable photo unusable
        pass


def _release_freed_memory() -> None:
    """Hand freed heap memory back to the system (glibc keeps it otherwise; Pillow's 16 MB blocks fall under its
    mmap threshold once one has been freed, so a server that decoded one big photo would stay that size)."""
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): their allocators return memory themselves
        pass


def _fitted_rgb(image: Image.Image, max_side: int | None, header_size: tuple[int, int]) -> Image.Image:
    """RGB, shrunk to max_side if given (band by band, in the image's own mode); notes the original size.

    A whole-factor box average first (each band of rows converted and reduced on its own, so no full-size
    RGB copy exists), then Lanczos from at most twice the target: fit_for_display's look, a fraction of its memory.
    """
    factor = max(1, max(image.size) // max_side) if max_side else 1  # keeps at least max_side pixels per side
    if factor == 1:
        result = _to_rgb(image)
    else:
        result = Image.new("RGB", (-(-image.width // factor), -(-image.height // factor)))
        rows = max(1, CHUNK_PIXELS // (image.width * factor)) * factor  # whole factors of rows, ~1 MP a band
        for top in range(0, image.height, rows):
            band = _to_rgb(image.crop((0, top, image.width, min(top + rows, image.height))))
            result.paste(band.reduce(factor), (0, top // factor))  # box average of factor x factor pixels
    if max_side:
        result = fit_for_display(result, max_side)[0]  # the size people know their photo by: the header's, turned as EXIF says
        turned = (image.width > image.height) != (header_size[0] > header_size[1])
        result.info[ORIGINAL_SIZE_KEY] = header_size[::-1] if turned else header_size
    return result


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any 8-bit Pillow mode to RGB; transparency is composited on white."""
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if has_alpha:
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")  # palette/grey transparency -> alpha
        # Pasting through the alpha band onto white needs one RGB copy; alpha_composite would need three
        # more RGBA-sized images, which matters at the 50-megapixel limit on a small server.
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba)
        return white
    try:
        return image.convert("RGB")  # palette, 1-bit, L, CMYK, YCbCr ...
    except (ValueError, OSError):
        raise ImageError("mode", mode=image.mode) from None


def _high_depth_to_8bit(image: Image.Image) -> Image.Image:
    """16-bit or 32-bit greyscale to 8-bit 'L' by scaling (Pillow's own convert would clip at 255)."""
    if image.mode.startswith("I;16"):
        low, scale = 0.0, 1 / 257.0  # 65535 -> 255 exactly
    else:
        finite = [block[np.isfinite(block)] for block in _row_blocks(image)]
        low = min((float(block.min()) for block in finite if block.size), default=0.0)
        high = max((float(block.max()) for block in finite if block.size), default=0.0)
        if image.mode == "I" and low >= 0 and high <= 65535:
            low, scale = 0.0, 1 / 257.0  # 16-bit data that Pillow widened to 32 bits
        elif image.mode == "F" and low >= 0 and high <= 1:
            low, scale = 0.0, 255.0  # floating-point images are usually 0..1
        else:
            scale = 255.0 / (high - low) if high > low else 0.0
    grey = np.empty((image.height, image.width), dtype=np.uint8)
    top = 0
    for block in _row_blocks(image):
        with np.errstate(invalid="ignore", over="ignore"):  # NaN and infinite pixels are mapped just below
            scaled = np.nan_to_num((block - low) * scale, nan=0.0, posinf=255.0, neginf=0.0)
        grey[top : top + len(block)] = np.clip(np.rint(scaled), 0, 255)
        top += len(block)
    result = Image.fromarray(grey)
    if isinstance(image.info.get("transparency"), (int, float)):
        result.info["transparency"] = int(np.clip(round((image.info["transparency"] - low) * scale), 0, 255))
    return result


def _row_blocks(image: Image.Image):
    """The image as float64 arrays of about CHUNK_PIXELS each (bands of rows), never one full-size copy."""
    rows = max(1, CHUNK_PIXELS // image.width)
    for top in range(0, image.height, rows):
        yield np.asarray(image.crop((0, top, image.width, min(top + rows, image.height))), dtype=np.float64)


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
