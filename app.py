"""Gradio entry point (also the Hugging Face Space `app_file`): `python app.py`."""

from __future__ import annotations

import logging
import os

from lart_demo.app import build_ui, launch_kwargs
from lart_demo.config import settings_from_env

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

settings = settings_from_env()
demo = build_ui(settings, fetch_examples=True)  # the real example clip, fetched once when online

if __name__ == "__main__":
    # On a Space the platform sets GRADIO_SERVER_NAME/PORT; locally Gradio's defaults apply.
    demo.launch(server_name=os.environ.get("GRADIO_SERVER_NAME"), **launch_kwargs(settings))
