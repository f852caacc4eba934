"""The service's error codes, as exceptions the HTTP layer turns into the wire format botocore parses."""

from __future__ import annotations


class ServiceError(Exception):
    """An error the endpoint returns to the client, with the AWS error code and HTTP status it carries."""

    code = "ServiceException"
    #: JSON 1.1 (control plane) answers every client error with 400; REST-JSON uses the model's status codes.
    rest_status = 400

    def __init__(self, message: str) -> None:
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
