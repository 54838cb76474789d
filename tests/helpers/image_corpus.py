"""A corpus of odd and hostile image files, generated on the spot (no binaries are committed).

`build_corpus()` returns `Sample`s: a file name, its bytes, and what `cnn_core.images.load_image` must
make of it:
- "rgb": a valid but unusual picture (16-bit, CMYK, palette, animated, extreme shapes...): an RGB image,
  of `size` when given;
- "error": bombs, documents, non-images, broken headers: an ImageError with a message;
- "any": damaged files (truncated, mutated like fuzzer crash samples): either of the two, nothing else.

Used by tests/test_images.py, in-process and in a child process that watches memory and time, and by
tests/datasets/test_folders.py.
"""

from __future__ import annotations

import gzip
import io
import pickle
import random
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass
class Sample:
    name: str
    data: bytes
    expect: str  # "rgb", "error" or "any"
    size: tuple[int, int] | None = None  # (width, height) of the RGB image, for "rgb"
    message: str | None = None  # a word the ImageError must contain, for "error"


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def noise(width: int, height: int, mode: str = "RGB", seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": 1, "LA": 2, "CMYK": 4}[mode]
    array = rng.integers(0, 256, size=(height, width, channels), dtype=np.uint8)
    return Image.fromarray(array[..., 0] if channels == 1 else array, mode)


# --- Hand-made PNGs: any header values, 16-bit colour, and real zlib bombs. ---


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(width: int, height: int, bit_depth: int, colour_type: int, idat: bytes, extra: bytes = b"") -> bytes:
    """A PNG with these IHDR fields and this (already compressed) IDAT payload."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + extra + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


def zero_png(width: int, height: int, bit_depth: int = 8, colour_type: int = 0, extra: bytes = b"") -> bytes:
    """A genuine PNG of all-zero pixels: tiny on disk, width x height when decoded (a zlib bomb when large)."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    row = 1 + width * channels * bit_depth // 8  # filter byte + pixels
    compressor = zlib.compressobj(9)
    zero_rows = b"\0" * row * 256
    body = b"".join(compressor.compress(zero_rows) for _ in range(height // 256))
    body += compressor.compress(b"\0" * row * (height % 256)) + compressor.flush()
    return png(width, height, bit_depth, colour_type, body, extra)


def sixteen_bit_rgb_png(width: int = 6, height: int = 4) -> bytes:
    rows = b"".join(b"\0" + np.full(width * 3, 40000, dtype=">u2").tobytes() for _ in range(height))
    return png(width, height, 16, 2, zlib.compress(rows))


# --- Valid but unusual pictures. ---


def odd_pictures() -> list[Sample]:
    samples = []
    rgb, rgba = noise(24, 16), noise(24, 16, "RGBA", 1)
    palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    for fmt, options in [("PNG", {}), ("JPEG", {"quality": 90}), ("JPEG", {"progressive": True}),
                         ("WEBP", {"lossless": True}), ("WEBP", {"quality": 50}), ("GIF", {}), ("BMP", {}),
                         ("TIFF", {}), ("TIFF", {"compression": "tiff_lzw"}), ("TIFF", {"compression": "tiff_adobe_deflate"}),
                         ("TIFF", {"compression": "packbits"}), ("TIFF", {"compression": "jpeg"})]:
        suffix = "-".join(f"{key}={value}" for key, value in options.items())
        samples.append(Sample(f"rgb-{fmt}-{suffix}.{fmt.lower()}", encode(rgb, fmt, **options), "rgb", (24, 16)))
    grey = rgb.convert("L")
    for mode in ("1", "L", "LA", "P", "RGBA", "I", "I;16"):
        image = {"LA": rgba.convert("LA"), "RGBA": rgba, "P": palette}.get(mode) or grey.convert(mode)
        for fmt in ("PNG", "TIFF"):
            if (fmt, mode) in (("TIFF", "LA"), ("TIFF", "P"), ("PNG", "I")):  # combinations Pillow cannot write
                continue
            samples.append(Sample(f"mode-{mode}.{fmt.lower()}", encode(image, fmt), "rgb", (24, 16)))
    samples += [
        Sample("palette-transparent.png", encode(palette, "PNG", transparency=3), "rgb", (24, 16)),
        Sample("palette-transparent.gif", encode(palette, "GIF", transparency=3), "rgb", (24, 16)),
        Sample("palette.bmp", encode(palette, "BMP"), "rgb", (24, 16)),
        Sample("two-colour-palette.png", encode(rgb.convert("1").convert("P"), "PNG"), "rgb", (24, 16)),
        Sample("grey-with-transparent-value.png", encode(rgb.convert("L"), "PNG", transparency=7), "rgb", (24, 16)),
        Sample("16-bit-grey-transparent.png", encode(rgb.convert("I;16"), "PNG", transparency=300), "rgb", (24, 16)),
        Sample("16-bit-rgb.png", sixteen_bit_rgb_png(), "rgb", (6, 4)),
        Sample("cmyk.jpg", encode(noise(24, 16, "CMYK"), "JPEG"), "rgb", (24, 16)),
        Sample("cmyk.tiff", encode(noise(24, 16, "CMYK"), "TIFF"), "rgb", (24, 16)),
        Sample("ycbcr.tiff", encode(rgb.convert("YCbCr"), "TIFF", compression="jpeg"), "rgb", (24, 16)),
        Sample("lab.tiff", encode(rgb.convert("LAB"), "TIFF"), "any"),
        Sample("float.tiff", encode(Image.fromarray(np.linspace(0, 1, 384, dtype=np.float32).reshape(16, 24)), "TIFF"),
               "rgb", (24, 16)),
        Sample("float-nan-inf.tiff", encode(Image.fromarray(np.array([[np.nan, np.inf, -np.inf, 5.0]], np.float32)),
                                            "TIFF"), "rgb", (4, 1)),
        Sample("int32-negative.tiff", encode(Image.fromarray(np.array([[-2**31, 0, 2**31 - 1]], np.int32)), "TIFF"),
               "rgb", (3, 1)),
        Sample("bilevel-group4.tiff", encode(rgb.convert("1"), "TIFF", compression="group4"), "rgb", (24, 16)),
        Sample("one-pixel.png", encode(Image.new("RGB", (1, 1)), "PNG"), "rgb", (1, 1)),
        Sample("one-pixel.gif", encode(Image.new("P", (1, 1)), "GIF"), "rgb", (1, 1)),
        Sample("very-wide.png", zero_png(60_000, 1), "rgb", (60_000, 1)),
        Sample("very-tall.png", zero_png(1, 60_000), "rgb", (1, 60_000)),
        Sample("interlaced.png", _adam7(), "rgb", (5, 3)),
        Sample("icc-profile.jpg", encode(rgb, "JPEG", icc_profile=b"\0" * 200), "any"),
        Sample("broken-exif.jpg", encode(rgb, "JPEG", exif=b"Exif\0\0MM\0*\0\0\0\x08\xff\xff"), "rgb", (24, 16)),
    ]
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        size = (16, 24) if orientation >= 5 else (24, 16)  # 5..8 turn the picture by 90 degrees
        samples.append(Sample(f"exif-orientation-{orientation}.jpg", encode(rgb, "JPEG", exif=exif), "rgb", size))
    frames = [Image.new("RGB", (12, 10), colour) for colour in ((0, 255, 0), (255, 0, 0), (0, 0, 255))]
    for fmt in ("GIF", "PNG", "WEBP", "TIFF"):
        data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=50)
        samples.append(Sample(f"animated.{fmt.lower()}", data, "rgb", (12, 10)))
    return samples


def _adam7() -> bytes:
    """A 5x3 interlaced (Adam7) PNG, assembled by hand: Pillow does not write interlaced files."""
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = b""
    for x0, y0, dx, dy in passes:
        columns, rows = len(range(x0, 5, dx)), len(range(y0, 3, dy))
        if columns and rows:
            raw += (b"\0" + b"\x80" * columns) * rows
    header = struct.pack(">IIBBBBB", 5, 3, 8, 0, 0, 0, 1)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(raw))
            + png_chunk(b"IEND", b""))


# --- Bombs and impossible sizes. ---


def patched(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value):]


def jpeg_with_size(width: int, height: int) -> bytes:
    data = encode(noise(16, 16), "JPEG")
    sof = data.index(b"\xff\xc0")
    return patched(data, sof + 5, struct.pack(">HH", height, width))


def scan_bomb(scans: int, side: int = 4000) -> bytes:
    """A progressive JPEG followed by `scans` tiny AC scans, each skipping all blocks with end-of-band runs.

    Each scan is ~26 bytes, yet libjpeg visits every 8x8 block of the image for it: about a millisecond per
    scan at 4000x4000. A 20 MB upload of this kind would keep a server busy for the better part of an hour.
    """
    buffer = io.BytesIO()
    Image.new("L", (side, side), 128).save(buffer, "JPEG", progressive=True, quality=50)
    # A Huffman table for AC coefficients with a single one-bit code meaning "EOB run of 2^14 + 14 more bits".
    table = b"\x10" + bytes([1] + [0] * 15) + b"\xe0"
    dht = b"\xff\xc4" + struct.pack(">H", 2 + len(table)) + table
    sos = b"\xff\xda" + struct.pack(">H", 8) + b"\x01\x01\x00" + bytes([1, 63, 0])  # component 1, AC 1..63
    runs = -(-((side // 8) ** 2) // 32767)  # each run covers up to 32,767 blocks
    bits = ("0" + "1" * 14) * runs
    bits += "1" * (-len(bits) % 8)
    body = bytes(int(bits[index:index + 8], 2) for index in range(0, len(bits), 8)).replace(b"\xff", b"\xff\x00")
    return buffer.getvalue()[:-2] + dht + (sos + body) * scans + b"\xff\xd9"


def bombs() -> list[Sample]:
    gif = encode(Image.new("P", (8, 8)), "GIF")
    bmp = encode(noise(8, 8), "BMP")
    webp = encode(noise(8, 8), "WEBP", lossless=True)
    tiff = encode(noise(8, 8), "TIFF")
    text_bomb = png_chunk(b"zTXt", b"comment\0\0" + zlib.compress(b"A" * (64 << 20)))
    icc_bomb = png_chunk(b"iCCP", b"icc\0\0" + zlib.compress(b"\0" * (64 << 20)))
    return [
        Sample("zlib-bomb-64mp.png", zero_png(8000, 8000), "error", message="megapixels"),
        Sample("zlib-bomb-16bit.png", zero_png(8000, 7000, 16, 0), "error", message="megapixels"),
        Sample("header-65535-square.png", png(65535, 65535, 8, 2, zlib.compress(b"")), "error", message="megapixels"),
        Sample("header-2g-wide.png", png(2**31 - 1, 1, 8, 0, zlib.compress(b"")), "error"),
        Sample("header-60000.gif", patched(gif, 6, struct.pack("<HH", 60000, 60000)), "error", message="megapixels"),
        Sample("header-65500.jpg", jpeg_with_size(65500, 65500), "error", message="megapixels"),
        Sample("header-huge.bmp", patched(bmp, 18, struct.pack("<ii", 100_000, -100_000)), "error"),
        Sample("header-huge.webp", patched(webp, 21, struct.pack("<I", 0x0FFFFFFF)), "error"),
        Sample("header-huge.tiff", _tiff_with_width(tiff, 100_000_000), "error", message="megapixels"),
        Sample("scan-bomb.jpg", scan_bomb(50_000), "error", message="scans"),
        Sample("text-chunk-bomb.png", zero_png(8, 8, extra=text_bomb), "any"),
        Sample("icc-chunk-bomb.png", zero_png(8, 8, extra=icc_bomb), "any"),
        Sample("zero-width.png", png(0, 10, 8, 0, zlib.compress(b"")), "error"),
    ]


def _first_ifd(data: bytes) -> tuple[int, int]:
    """The offset of a little-endian TIFF's first IFD and its number of entries."""
    ifd = struct.unpack("<I", data[4:8])[0]
    return ifd, struct.unpack("<H", data[ifd:ifd + 2])[0]


def _tiff_with_width(data: bytes, width: int) -> bytes:
    """Set the ImageWidth tag (256) of a little-endian TIFF's first IFD."""
    ifd, count = _first_ifd(data)
    for index in range(count):
        entry = ifd + 2 + 12 * index
        tag, kind = struct.unpack("<HH", data[entry:entry + 4])
        if tag == 256:
            if kind == 3:
                data = patched(data, entry + 2, struct.pack("<H", 4))  # widen SHORT to LONG
            return patched(data, entry + 8, struct.pack("<I", width))
    raise AssertionError("no ImageWidth tag")


# --- Things that are not pictures at all, under picture names. ---


def not_pictures() -> list[Sample]:
    from zipfile import ZipFile

    archive = io.BytesIO()
    with ZipFile(archive, "w") as handle:
        handle.writestr("x.txt", "hello")
    red = Image.new("RGB", (8, 8), (255, 0, 0))
    documents = [
        Sample("document.pdf.png", encode(red, "PDF"), "error", message="PDF"),
        Sample("drawing.eps.png", encode(red, "EPS"), "error", message="EPS"),
        Sample("postscript.ps.png", b"%!PS-Adobe-3.0\n/Times findfont 12 scalefont setfont\nshowpage\n", "error",
               message="PostScript"),
        Sample("dos-eps.png", b"\xc5\xd0\xd3\xc6" + b"\0" * 60, "error", message="EPS"),
        Sample("leading-space.pdf.png", b"  \n%PDF-1.7\n%...", "error", message="PDF"),
        Sample("drawing.svg.png", b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "error",
               message="SVG"),
        Sample("page.xml.png", b'<?xml version="1.0"?><svg/>', "error"),
    ]
    others = {
        "empty.png": b"", "one-byte.png": b"\x89", "zeros.png": b"\0" * 1024, "text.png": b"just some words\n" * 20,
        "page.html.png": b"<!doctype html><html><body>hi</body></html>", "data.json.png": b'{"a": [1, 2, 3]}',
        "archive.zip.png": archive.getvalue(), "compressed.gz.png": gzip.compress(b"x" * 1000),
        "program.elf.png": b"\x7fELF\x02\x01\x01" + b"\0" * 57, "program.exe.png": b"MZ" + b"\0" * 62,
        "pickle.png": pickle.dumps({"a": 1}), "video.mp4.png": b"\0\0\0\x18ftypmp42" + b"\0" * 40,
        "random.png": random.Random(0).randbytes(4096), "png-signature-only.png": b"\x89PNG\r\n\x1a\n",
        "icon.ico.png": encode(red, "ICO"), "pixmap.ppm.png": encode(red, "PPM"), "targa.tga.png": encode(red, "TGA"),
        "photoshop.psd.png": b"8BPS\0\1" + b"\0" * 40, "quite-ok.qoi.png": b"qoif" + b"\0" * 30,
        "bitmap.xbm.png": b"#define x_width 8\n#define x_height 1\nstatic char x_bits[] = {0x00};\n",
    }
    return documents + [Sample(name, data, "error") for name, data in others.items()]


# --- Damaged files: the kind of thing fuzzers turn up. ---


def crafted_crashes() -> list[Sample]:
    tiff = encode(noise(8, 8), "TIFF")
    ifd, count = _first_ifd(tiff)
    looping_ifd = patched(tiff, ifd + 2 + 12 * count, struct.pack("<I", ifd))  # next IFD = itself
    gif = encode(Image.new("P", (8, 8)), "GIF")
    jpeg = encode(noise(16, 16), "JPEG")
    return [
        Sample("png-bad-bit-depth.png", png(8, 8, 3, 0, zlib.compress(b"\0" * 72)), "error"),
        Sample("png-bad-colour-type.png", png(8, 8, 8, 7, zlib.compress(b"\0" * 72)), "error"),
        Sample("png-huge-chunk-length.png", b"\x89PNG\r\n\x1a\n" + b"\xff\xff\xff\xffIHDR" + b"\0" * 20, "error"),
        Sample("png-bad-crc.png", patched(zero_png(8, 8), 29, b"\0\0\0\0"), "any"),
        Sample("png-not-zlib.png", png(8, 8, 8, 0, b"not zlib data at all"), "error"),
        Sample("png-short-idat.png", png(8, 8, 8, 0, zlib.compress(b"\0" * 10)), "error"),
        Sample("png-palette-index-out-of-range.png", png(4, 1, 8, 3, zlib.compress(b"\0\x05\x05\x05\x05"),
                                                         png_chunk(b"PLTE", b"\0\0\0")), "any"),
        Sample("tiff-ifd-loop.tiff", looping_ifd, "any"),
        Sample("tiff-offset-past-end.tiff", patched(tiff, 4, struct.pack("<I", 10**9)), "error"),
        Sample("gif-lzw-code-size-13.gif", gif.replace(b",\0\0\0\0\x08\0\x08\0\0\x02", b",\0\0\0\0\x08\0\x08\0\0\x0d"), "any"),
        Sample("gif-zero-screen.gif", patched(gif, 6, b"\0\0\0\0"), "any"),
        Sample("bmp-zero-bits.bmp", patched(encode(noise(8, 8), "BMP"), 28, b"\0\0"), "error"),
        Sample("bmp-64-bits.bmp", patched(encode(noise(8, 8), "BMP"), 28, b"\x40\0"), "error"),
        Sample("bmp-offset-past-end.bmp", patched(encode(noise(8, 8), "BMP"), 10, struct.pack("<I", 10**8)), "any"),
        Sample("jpeg-no-components.jpg", patched(jpeg, jpeg.index(b"\xff\xc0") + 9, b"\0"), "error"),
        Sample("jpeg-bad-huffman.jpg", patched(jpeg, jpeg.index(b"\xff\xc4") + 5, b"\xff" * 16), "any"),
        Sample("webp-wrong-riff-size.webp", patched(encode(noise(8, 8), "WEBP"), 4, b"\xff\xff\xff\x7f"), "any"),
    ]


def seed_files() -> list[bytes]:
    """Small valid files of every allowed format: the starting points of mutations (here and in Hypothesis)."""
    rgb = noise(12, 9, seed=3)
    return [encode(rgb, "PNG"), encode(rgb, "JPEG"), encode(rgb, "JPEG", progressive=True), encode(rgb, "GIF"),
            encode(rgb, "BMP"), encode(rgb, "TIFF"), encode(rgb, "TIFF", compression="tiff_lzw"),
            encode(rgb, "WEBP"), encode(rgb, "WEBP", lossless=True), encode(rgb.convert("I;16"), "PNG"),
            encode(noise(12, 9, "CMYK"), "JPEG"), encode(rgb.convert("P"), "PNG", transparency=0)]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """A fuzzer-style mutation: overwrite, insert or delete a few bytes, or cut the file short."""
    data = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        action, position = rng.random(), rng.randrange(len(data))
        if action < 0.5:
            data[position] = rng.choice([0, 0xFF, 0x7F, 0x80, rng.randrange(256)])
        elif action < 0.7:
            data[position:position] = rng.randbytes(rng.randint(1, 8))
        elif action < 0.9:
            del data[position:position + rng.randint(1, 8)]
        else:
            data[position:position + 4] = rng.choice([b"\xff\xff\xff\xff", b"\0\0\0\0", b"\x7f\xff\xff\xff"])
    if rng.random() < 0.2:
        data = data[: rng.randrange(1, len(data) + 1)]
    return bytes(data) or b"\0"


def damaged() -> list[Sample]:
    samples = []
    for index, seed in enumerate(seed_files()):
        for fraction in (0.1, 0.5, 0.9):
            samples.append(Sample(f"truncated-{index}-{fraction}.bin", seed[: int(len(seed) * fraction)], "any"))
        rng = random.Random(index)
        for mutation in range(20):
            samples.append(Sample(f"mutated-{index}-{mutation}.bin", mutate(seed, rng), "any"))
    return samples


def build_corpus() -> list[Sample]:
    """Every sample above (a few hundred files, a few MB in all)."""
    return odd_pictures() + bombs() + not_pictures() + crafted_crashes() + damaged()
