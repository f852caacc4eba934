"""The service's error codes, as exceptions the HTTP layer turns into the wire format botocore parses."""

from __future__ import annotations


class ServiceError(Exception):
    """An error the endpoint returns to the client, with the AWS error code and HTTP status it carries."""

    code = "ServiceException"
    #: JSON 1.1 (control plane) answers every client error with 400; REST-JSON uses the model's status codes.
    rest_status = 400

    def __init__(self, message: str) -> None:
        message = shorten(message, MAX_MESSAGE_LENGTH)
        super().__init__(message)
        self.message = message


class InvalidInputError(ServiceError):
    code = "InvalidInputException"


class ResourceNotFoundError(ServiceError):
    code = "ResourceNotFoundException"
    rest_status = 404


class ResourceAlreadyExistsError(ServiceError):
    code = "ResourceAlreadyExistsException"


class ResourceInUseError(ServiceError):
    code = "ResourceInUseException"
    rest_status = 409


class LimitExceededError(ServiceError):
    code = "LimitExceededException"


class InvalidNextTokenError(ServiceError):
    code = "InvalidNextTokenException"


class UnknownOperationError(ServiceError):
    code = "UnknownOperationException"


class SerializationError(ServiceError):
    """The body is not JSON the operation can read: not an object, too deep, or a member of the wrong type."""

    code = "SerializationException"


class ValidationError(ServiceError):
    """A member breaks a constraint of the API model (required, length, range, enum, pattern)."""

    code = "ValidationException"


class RequestTooLargeError(ServiceError):
    """The request body is larger than the endpoint takes (HTTP 413 on every protocol)."""

    code = "RequestEntityTooLargeException"
    rest_status = 413


class MethodNotAllowedError(ServiceError):
    """A JSON route called with another HTTP method than POST (HTTP 405 on every protocol)."""

    code = "UnknownOperationException"
    rest_status = 405


#: Longest error message sent back: a message quoting a hostile input must not echo megabytes of it.
MAX_MESSAGE_LENGTH = 1024


def shorten(text: str, limit: int = 100) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out: for quoting request values in errors."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"
