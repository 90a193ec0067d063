"""The two ways a run ends early; the worker maps them to run states."""


class TrainingCanceled(Exception):
    """The reporter asked to stop (a user pressed cancel)."""


class TrainingFailed(Exception):
    """The run cannot go on; the message is shown to the user as the reason."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
