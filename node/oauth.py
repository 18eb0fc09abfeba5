"""OAuth 2.0 for local users and systems: client-credentials tokens and scope checks (authlib).

``POST /oauth/token`` issues short-lived bearer tokens; :func:`require_scope`
guards every ``/api/v1`` route. Failures raise :class:`~node.errors.Unauthenticated`
or :class:`~node.errors.Forbidden` so they leave in the one JSON error shape.
"""

from __future__ import annotations

import functools
import time

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, grants
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6750 import BearerTokenValidator, InsufficientScopeError
from flask import current_app, g, request

from .clients import SCOPES, Client, ClientRegistry, Token
from .errors import Forbidden, Unauthenticated

# A scope grants its own routes; these also grant read access to records.
READ_SCOPES = ("read", "publish", "admin")


class OAuthClient(ClientMixin):
    def __init__(self, client: Client):
        self.client = client

    def get_client_id(self):
        return self.client.client_id

    def get_default_redirect_uri(self):
        return None

    def get_allowed_scope(self, scope):
        allowed = set(self.client.scopes)
        if not scope:
            return " ".join(self.client.scopes)
        requested = scope.split()
        refused = [s for s in requested if s not in allowed]
        if refused:
            raise InvalidScopeError(description=f"this client may not request: {' '.join(refused)}")
        return " ".join(requested)

    def check_redirect_uri(self, redirect_uri):
        return False

    def check_client_secret(self, client_secret):
        return ClientRegistry(runtime().db()).authenticate(self.client.client_id, client_secret) is not None

    def check_endpoint_auth_method(self, method, endpoint):
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type):
        return False

    def check_grant_type(self, grant_type):
        return grant_type == "client_credentials"


class BearerToken(TokenMixin):
    def __init__(self, token: Token):
        self.token = token

    def check_client(self, client):
        return client.get_client_id() == self.token.client_id

    def get_scope(self):
        return self.token.scope

    def get_expires_in(self):
        return self.token.expires_at - self.token.issued_at

    def is_expired(self):
        return time.time() >= self.token.expires_at

    def is_revoked(self):
        return False


class TokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string):
        token = ClientRegistry(runtime().db()).find_token(token_string)
        return BearerToken(token) if token else None


def runtime():
    return current_app.extensions["cordon"]


def _query_client(client_id):
    client = ClientRegistry(runtime().db()).get(client_id)
    return OAuthClient(client) if client and client.active else None


def _save_token(token, request):
    ClientRegistry(runtime().db()).store_token(
        request.client.get_client_id(), token["access_token"], token.get("scope", ""), int(token["expires_in"])
    )


class ClientCredentials(grants.ClientCredentialsGrant):
    """The client credentials grant, the client authenticating by HTTP Basic or by ``client_id`` and
    ``client_secret`` form fields (RFC 6749 section 2.3.1 allows both)."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


def init_oauth(app) -> None:
    ttl = app.extensions["cordon"].settings.token_ttl_seconds
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"client_credentials": ttl}
    app.config["OAUTH2_SCOPES_SUPPORTED"] = list(SCOPES)
    server = AuthorizationServer(app, query_client=_query_client, save_token=_save_token)
    server.register_grant(ClientCredentials)
    app.extensions["cordon_oauth"] = (server, TokenValidator())


def token_response():
    server, _ = current_app.extensions["cordon_oauth"]
    return server.create_token_response()


def bearer_token(scopes) -> BearerToken:
    """The request's bearer token, checked by authlib's validator: known, issued to a client that is
    not revoked, not expired, and holding one of ``scopes``.

    The ``Authorization`` header is read as authlib's resource protector reads it (``<type> <token>``,
    the type case-insensitive); only the header is looked at, never the body or the query string.
    """
    header = request.headers.get("Authorization")
    if not header:
        raise Unauthenticated("a valid bearer token is required (POST /oauth/token)")
    parts = header.split(None, 1)
    if len(parts) != 2 or parts[0].lower() != BearerTokenValidator.TOKEN_TYPE:
        raise Unauthenticated("the bearer token is invalid or expired")
    _, validator = current_app.extensions["cordon_oauth"]
    token = validator.authenticate_token(parts[1])
    try:
        validator.validate_token(token, scopes, None)
    except InsufficientScopeError:
        raise Forbidden(f"this token lacks the scope for this route; needs one of: {', '.join(scopes)}") from None
    except OAuth2Error:
        raise Unauthenticated("the bearer token is invalid or expired") from None
    return token


def require_scope(*scopes: str):
    """Decorator: the request needs a valid bearer token holding any one of ``scopes``."""

    def decorator(view):
        view.required_scopes = scopes
        required = list(scopes)

        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            token = bearer_token(required)
            g.actor = token.token.client_id
            g.scopes = set(token.get_scope().split())
            return view(*args, **kwargs)

        return wrapped

    return decorator
