class Denied(Exception):
    """A command line the terminal refuses to run. The message is shown to the student."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
