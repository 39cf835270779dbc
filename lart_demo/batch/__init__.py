"""Many videos in one command: `python -m lart_demo batch INPUT... --out DIR [--workers N] [--ray-address ADDR]`.

inputs.py expands the INPUTs (videos, folders, .txt lists, YouTube links); ledger.py keeps batch.csv and the
resumable state; runner.py drives the work (in-process, or on Ray actors from ray_workers.py).
"""
