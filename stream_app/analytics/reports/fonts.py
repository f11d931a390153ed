"""The font reports draw text with, found by path (no font download, no network).

zh-CN needs a CJK font: the Debian package ``fonts-wqy-zenhei`` (``make cjk-font`` installs it) or
``fonts-noto-cjk``. en-US uses the same font when present (it holds Latin glyphs too), else matplotlib's
bundled DejaVu Sans. A zh-CN report without a CJK font is refused with :class:`ConfigError` rather than
drawn as empty boxes.
"""

from __future__ import annotations

from pathlib import Path

from schemas.analytics import Lang
from schemas.errors import ConfigError

CJK_FONTS: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
)


def cjk_font(candidates: tuple[Path, ...] = CJK_FONTS) -> Path | None:
    """The first installed CJK font of ``candidates``."""
    return next((p for p in candidates if p.is_file()), None)


def font_for(language: Lang, candidates: tuple[Path, ...] = CJK_FONTS) -> Path | None:
    """The font file for ``language`` (None: matplotlib's default, en-US only); ConfigError if zh-CN
    has none."""
    found = cjk_font(candidates)
    if found is None and language == "zh-CN":
        looked = ", ".join(str(p) for p in candidates)
        raise ConfigError(
            "zh-CN reports need a CJK font: install the Debian package fonts-wqy-zenhei "
            f"(make cjk-font) or fonts-noto-cjk; looked for {looked}"
        )
    return found
