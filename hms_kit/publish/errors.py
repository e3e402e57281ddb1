"""The one error the publisher raises: the CLI prints it and exits with status 2."""


class PublishError(Exception):
    """A push that must not go ahead: missing credentials, files or a client failure."""
