"""lart-demo: see what LART recognises in any video (tracking + 3D pose + AVA actions)."""

__version__ = "0.1.0"
