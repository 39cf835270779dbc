"""The video upload box: `gr.File(type="filepath")` without the empty temp file Gradio 6 leaves per call.

Gradio's `File._process_single_file` creates a `NamedTemporaryFile(delete=False)` in its cache on every
event and never uses it, so each upload left one empty file behind. The box returned here hands over the
uploaded file's path the same way, without that file. It is patched on the instance: a `gr.File` subclass
would make Gradio write a `.pyi` stub next to this module at import time.
"""

from __future__ import annotations

import types
from typing import Any

import gradio as gr
from gradio.data_classes import FileData
from gradio.utils import NamedString
from gradio_client import utils as client_utils


def _path_of_upload(self: gr.File, f: FileData) -> NamedString:
    if self.file_types and not client_utils.is_valid_file(f.path, self.file_types):
        raise gr.Error(f"Invalid file type. Please upload a file that is one of these formats: {self.file_types}")
    return NamedString(f.path)


def video_upload(**kwargs: Any) -> gr.File:
    """A `gr.File(type="filepath", **kwargs)` that leaves no empty temp file per call."""
    box = gr.File(type="filepath", **kwargs)
    box._process_single_file = types.MethodType(_path_of_upload, box)  # type: ignore[method-assign]
    return box
