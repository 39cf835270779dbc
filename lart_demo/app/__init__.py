"""The Gradio app. `layout` wires components to `handlers`; `runner` runs analyses; `text` holds the words;
`player` is the results player (its browser code is in assets/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lart_demo.app.layout import build_ui
from lart_demo.app.player import page_css
from lart_demo.config import Settings

__all__ = ["build_ui", "launch_kwargs"]


def launch_kwargs(settings: Settings) -> dict[str, Any]:
    """Arguments for `demo.launch`: upload limit, the folders the player may serve files from, the page CSS."""
    return {
        "css": page_css(),
        "max_file_size": int(settings.max_upload_mb * (1 << 20)),  # bytes, as the upload check counts MB
        "allowed_paths": [str(Path(settings.output_dir).resolve())],
    }
