"""Errors the user may see. Every message says what happened and what the user can do."""


class LartDemoError(Exception):
    """Base class: its message is safe to show to a user (no traceback needed)."""


class VideoError(LartDemoError):
    """The video could not be read, probed, trimmed or written."""


class WeightsError(LartDemoError):
    """A weight file is missing, corrupt or could not be downloaded."""


class ModelError(LartDemoError):
    """A model could not be built or a checkpoint does not fit the model."""


class InputError(LartDemoError):
    """The user's input (URL, option, file type) is not acceptable."""
