"""The fonts a printable diary is set in, from installed packages (nothing is downloaded):

- English: DejaVu Sans (regular and bold), which matplotlib ships in ``mpl-data/fonts/ttf``;
- Simplified Chinese: Noto Sans CJK SC (SIL Open Font License), which the ``mplfonts`` package
  ships as ``mplfonts/fonts/NotoSansCJKsc-Regular.otf``. It has no bold face: emphasis is colour and
  size. The package is found without importing it (its import would register fonts with matplotlib).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ...errors import OutputError

CJK_FONT = "NotoSansCJKsc-Regular.otf"


@dataclass(frozen=True)
class FontFiles:
    regular: Path
    bold: Path | None  # None: the font has no bold face


def fonts_for(language: str) -> FontFiles:
    """The font files for ``language`` ("en" or "zh")."""
    if language == "zh":
        return FontFiles(_cjk(), None)
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return FontFiles(folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf")


def _cjk() -> Path:
    spec = importlib.util.find_spec("mplfonts")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / "fonts" / CJK_FONT
        if path.is_file():
            return path
    raise OutputError(
        f"the Chinese font {CJK_FONT} is not installed",
        hint="install dosing with its dependencies (pip install -e .), which bring the mplfonts package",
    )
