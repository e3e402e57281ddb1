"""The one error the publisher raises: the CLI prints it and exits with status 2."""


class PublishError(Exception):
    """A push that must not go ahead: missing credentials, files or a client failure."""


class PushRefusedError(PublishError):
    """Kaggle answered a kernel push with an error (e.g. no free GPU session): no version was
    made, so the kernel may be pushed again."""
