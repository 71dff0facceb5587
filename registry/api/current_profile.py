"""GET/POST /api/chat/profile: the current profile kept in the `chat_profile` cookie (contract §4.4)."""

from __future__ import annotations

from flask import Response, current_app, request
from flask.views import MethodView

from registry.api.common import BadArgument, Blueprint, current_view, json_body, registry_arg
from registry.api.fastdoc import documented_only
from registry.api.schemas import CURRENT_PROFILE, CurrentProfileSchema, ErrorBodySchema
from registry.domain import gojson
from registry.domain.documents import MOCK_PARITY_SLUG
from registry.domain.errors import ProfileNotFound, RegistryError, RegistryNotFound, SlugError
from registry.domain.model import parse_profile_slug, parse_registry_slug
from registry.service.chain import ChainView
from registry.web.request_json import BadJSON, parse_body

blp = Blueprint("current_profile", __name__, url_prefix="/api/chat", description="The current profile cookie")

ERRORS = {"description": "plain text (JSON with `Accept: application/json`)", "schema": ErrorBodySchema}


def _exists(view: ChainView, registry_slug: str, profile_slug: str) -> bool:
    if profile_slug == MOCK_PARITY_SLUG:
        return True
    loaded = view.registries.get(registry_slug)
    return loaded is not None and profile_slug in loaded.registry["profiles"]


def _from_cookie(view: ChainView, cookie: str) -> tuple[str, str] | None:
    """The qualified `registry/profile` form, else the legacy bare profile in the default registry."""
    registry_part, sep, profile_part = cookie.partition("/")
    if sep:
        try:
            registry_slug, profile_slug = parse_registry_slug(registry_part), parse_profile_slug(profile_part)
        except SlugError:
            return None
        return (registry_slug, profile_slug) if _exists(view, registry_slug, profile_slug) else None
    try:
        profile_slug = parse_profile_slug(cookie)
    except SlugError:
        return None
    return (view.default_registry, profile_slug) if _exists(view, view.default_registry, profile_slug) else None


@blp.route("/profile")
class CurrentProfile(MethodView):
    @documented_only
    @blp.response(200, CurrentProfileSchema)
    @blp.alt_response(500, **ERRORS)
    def get(self) -> Response:
        """The cookie's profile if it still exists, else the default registry's default profile."""
        view = current_view()
        cookie = request.cookies.get(current_app.config["CHAT_PROFILE_COOKIE"], "")
        chosen = _from_cookie(view, cookie) if cookie else None
        if chosen is None:
            try:
                registry = view.registry(view.default_registry)
            except RegistryNotFound as exc:
                # No default registry is the server's configuration, not the client's mistake: the reference's 500.
                raise RegistryError("default registry missing") from exc
            chosen = (view.default_registry, registry.get("default_profile_slug") or "default")
        return json_body(CURRENT_PROFILE.dump({"profile": chosen[1], "registry": chosen[0]}))

    @blp.doc(requestBody={"content": {"application/json": {"schema": CurrentProfileSchema}}})
    @blp.response(200, CurrentProfileSchema)
    @blp.alt_response(400, **ERRORS)
    @blp.alt_response(404, **ERRORS)
    def post(self) -> Response:
        """Select a profile: it must exist (or be `mock_parity`); sets `chat_profile=<registry>/<profile>`."""
        try:
            body = parse_body(request.get_data())
        except BadJSON as exc:
            raise BadArgument("bad request" if exc.malformed else f"bad request: {exc}") from exc
        # Field names match as Go's decoder matches them: `Profile` and `PROFILE` are `profile`.
        if not isinstance(body, dict):
            raise BadArgument("bad request")
        raw_profile = gojson.field(body, "profile")
        if raw_profile is not None and not isinstance(raw_profile, str):
            raise BadArgument("bad request")
        try:
            profile_slug = parse_profile_slug(raw_profile or "")
        except SlugError as exc:
            raise BadArgument("bad request") from exc
        raw_registry = gojson.field(body, "registry")
        if raw_registry is not None and not isinstance(raw_registry, str):
            # Go's decoder fails on a non-string field before the registry is looked at.
            raise BadArgument("bad request")
        view = current_view()
        registry_slug = registry_arg(raw_registry) or registry_arg(request.args.get("registry"))
        registry_slug = registry_slug or view.default_registry
        # Unknown registry is 404 here, not the reference's 500: it is the client's mistake.
        if profile_slug != MOCK_PARITY_SLUG and view.registry(registry_slug)["profiles"].get(profile_slug) is None:
            raise ProfileNotFound()
        response = json_body(CURRENT_PROFILE.dump({"profile": profile_slug, "registry": registry_slug}))
        # Written by hand to keep the reference's attribute order (Path, HttpOnly, Secure, SameSite).
        cookie = current_app.config["CHAT_PROFILE_COOKIE"]
        response.headers.add(
            "Set-Cookie", f"{cookie}={registry_slug}/{profile_slug}; Path=/; HttpOnly; Secure; SameSite=Lax"
        )
        return response
