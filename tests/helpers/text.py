"""What a page says, judged as text: Chinese characters (CJK) and English UI text left untranslated.

Used by tests/test_i18n.py and the page and browser tests.
"""

from __future__ import annotations

import re
import string

from cnn_core import i18n

CJK = re.compile(r"[\u3400-\u9fff]")

# Names that stay as they are in every language (products, datasets, layer and kernel names, formats).
PROPER_NAMES = ("CNN Studio", "CIFAR-10", "Sobel", "ReLU", "Softmax", "softmax", "Keras", "Conv2D", "Adam", "SGD",
                "Grad-CAM", "TensorFlow", "PNG", "JPEG", "WebP", "GIF", "BMP", "TIFF", "RGB", "Streamlit")


def _english_fragments() -> set[str]:
    """Pieces of English UI text that a Chinese page must not show.

    For every key whose two languages differ: the English template's literal parts (placeholders
    removed, Markdown markers and inline math dropped), at least 4 characters and with letters,
    leaving out pieces that Chinese text also uses (proper names such as "Sobel x" or "R+G+B").
    """
    english_table, chinese_table = i18n.table("en"), i18n.table("zh")
    chinese = "\n".join(chinese_table.values())
    fragments = set()
    for key, english in english_table.items():
        if english == chinese_table.get(key):
            continue
        for literal, *_ in string.Formatter().parse(english):
            for piece in re.split(r"\$[^$]*\$|\*\*|`|\n", literal):
                piece = piece.strip(" .,:;·…()[]—-–#*")
                if len(piece) >= 4 and re.search(r"[A-Za-z]{2}", piece) and piece not in chinese \
                        and piece not in PROPER_NAMES:
                    fragments.add(piece)
    return fragments


ENGLISH_FRAGMENTS = _english_fragments()


def english_leftovers(shown_text: str) -> list[str]:
    """The English UI fragments that appear as whole words in `shown_text` (what a Chinese page displays)."""
    found = [piece for piece in ENGLISH_FRAGMENTS
             if piece in shown_text and re.search(rf"(?<![A-Za-z]){re.escape(piece)}(?![A-Za-z])", shown_text)]
    return sorted(found, key=len, reverse=True)


def shown(markdown: str) -> str:
    """What Markdown shows for text whose values were escaped (app_pages.parts.language.t): backslash escapes undone."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)
