"""The write path shared by the admin API and `import`: pick the store, validate, run one edit per transaction.

No Flask here. Payloads are checked against the schema catalogs before any transaction starts; the edit itself
(registry.domain.edits) and the chain-wide stack check run inside the store's BEGIN IMMEDIATE transaction, so the
registry they see is the one that gets replaced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from registry.domain import edits, gojson, gotypes
from registry.domain.api_key_env import DEFAULT_POLICY, ApiKeyEnvPolicy
from registry.domain.errors import (
    ReadOnlyStore,
    RegistryNotFound,
    RegistryQuarantined,
    RowTooLarge,
    SlugError,
    ValidationError,
    VersionConflict,
)
from registry.domain.model import DecodeError, Registry, decode_registry, encode_registry, parse_profile_slug
from registry.domain.payload_validation import PayloadSchemaError, PayloadValidator, pointer
from registry.domain.resolve import settings_view
from registry.service.chain import ChainView
from registry.service.registry_service import RegistryService
from registry.storage.interface import RowWrite
from registry.storage.sources import StoreSource

Edit = Callable[[Registry | None, int], Registry | None]


class NotWritable(ReadOnlyStore):
    """A write aimed at a registry that no writable SQLite source holds (403, with the reason)."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.args = (f"store is read-only: {reason}",)

    def __str__(self) -> str:
        return str(self.args[0])


def refuse_go_types(value: Any, go_type: gotypes.GoType, base: str = "") -> None:
    """422 with the JSON pointer of the first value the reference's Go type cannot hold (what its load refuses)."""
    problem = gotypes.first_problem(value, go_type, base)
    if problem is not None:
        raise PayloadSchemaError([problem])


def registry_from_body(slug: str, body: dict[str, Any]) -> Registry:
    """A whole-registry body (the reference's JSON shape) as a normalised registry named `slug`."""
    refuse_go_types(body, gotypes.REGISTRY)
    body = dict(body)
    profiles = body.get("profiles")
    if isinstance(profiles, dict):
        # As in YAML, a profile may leave out its slug: it is the map key.
        body["profiles"] = {
            key: ({"slug": key} | value if isinstance(value, dict) and not value.get("slug") else value)
            for key, value in profiles.items()
        }
    try:
        registry = decode_registry(body)
    except DecodeError as exc:
        raise ValidationError("registry", str(exc)) from exc
    if not registry["slug"]:
        registry["slug"] = slug
    elif registry["slug"] != slug:
        raise ValidationError("registry.slug", f'"{registry["slug"]}" does not match the registry "{slug}" addressed')
    return registry


def in_profile(slug: str) -> Callable[[str], str]:
    """Pointers into the stored registry, made relative to a profile body (create and PATCH send one profile)."""
    prefix = pointer("/profiles", [slug])

    def translate(stored: str) -> str:
        return stored[len(prefix) :] if stored.startswith(prefix + "/") else stored

    return translate


def profile_keys_as_sent(profiles: dict[str, Any]) -> Callable[[str], str]:
    """Pointers into the stored registry with each profile's key spelled as the request spelled it."""
    sent: dict[str, str] = {}
    for key in profiles:
        try:
            sent[parse_profile_slug(key)] = key
        except SlugError:
            continue

    def translate(stored: str) -> str:
        for slug, key in sent.items():
            prefix = pointer("/profiles", [slug])
            if stored == prefix or stored.startswith(prefix + "/"):
                return pointer("/profiles", [key]) + stored[len(prefix) :]
        return stored

    return translate


class RegistryWriter:
    """Create, update and delete profiles and registries in the SQLite sources of one running service."""

    def __init__(self, service: RegistryService, key_policy: ApiKeyEnvPolicy = DEFAULT_POLICY) -> None:
        self.service = service
        self.validator = PayloadValidator(service.catalog)
        self.key_policy = key_policy

    # --- where a registry lives ------------------------------------------------------------------------------

    def _source_for(self, view: ChainView, slug: str, *, create: bool = False) -> tuple[int, StoreSource]:
        """The source holding `slug` and its place in the chain; with `create`, the top writable database source."""
        sources = self.service.chain.sources
        label = view.source_of.get(slug)
        if label is not None:
            index, source = next((i, s) for i, s in enumerate(sources) if s.label == label)
            if not isinstance(source, StoreSource):
                raise NotWritable(f'registry "{slug}" comes from the YAML source {label}; edit that file instead')
            if source.store.read_only:
                raise NotWritable(f'registry "{slug}" lives in {source.location}, which is read-only')
            return index, source
        if not create:
            raise RegistryNotFound()
        writable = [(i, s) for i, s in enumerate(sources) if isinstance(s, StoreSource) and not s.store.read_only]
        if not writable:
            raise NotWritable("no writable database source to create the registry in")
        return writable[-1]

    # --- the transaction ---------------------------------------------------------------------------------------

    def _run(
        self,
        view: ChainView,
        slug: str,
        edit: Edit,
        *,
        create: bool = False,
        repair: bool = False,
        dry_run: bool = False,
        body_pointer: Callable[[str], str] = lambda stored: stored,
    ) -> RowWrite:
        """Run `edit` on the registry's row in one transaction, with the chain-wide stack check before the write.

        `view` is the one chain view of this write (the caller's, taken before it). `repair` lets a whole-registry
        replace or delete act on a quarantined row (the way to fix one). `body_pointer` turns a JSON pointer into
        the stored payload into one into the request body.
        """
        index, source = self._source_for(view, slug, create=create)
        store = source.store
        with store.write(slug, dry_run=dry_run) as tx:
            if tx.quarantine_reason is not None and not repair:
                raise RegistryQuarantined(slug, tx.quarantine_reason)
            if tx.current is None and tx.quarantine_reason is None and not create:
                raise RegistryNotFound()
            after = edit(tx.current, tx.now_ms)
            self._check_key_envs(tx.current, after)
            # While we hold the write transaction nobody else can commit to this database, so `view` is current
            # for it unless another writer committed between taking it and our lock: only then is a fresh one built.
            if store.changed_since(view.key[index]):
                view = self.service.chain.view()
            before_all = {s: loaded.registry for s, loaded in view.registries.items()}
            before_all.pop(slug, None)
            if tx.current is not None:
                before_all[slug] = tx.current
            after_all = dict(before_all)
            after_all.pop(slug, None)
            if after is not None:
                after_all[slug] = after
            edits.check_chain_topology(before_all, after_all, slug)
            if after is None:
                tx.delete()
            else:
                # The row must be one the reference decodes (and our load accepts): the same check as at load.
                encoded = encode_registry(after)
                problem = gotypes.first_problem(encoded, gotypes.REGISTRY)
                if problem is not None:
                    raise PayloadSchemaError([(body_pointer(problem[0]), problem[1])])
                # Small bodies can add up (each PATCH adds to the row): a row the next load would quarantine for its
                # size is refused here instead.
                size = len(gojson.dumps(encoded).encode("utf-8"))
                if size > store.max_row_bytes:
                    raise RowTooLarge(
                        f'registry "{slug}" would be {size} bytes, more than the {store.max_row_bytes} allowed '
                        "(REGISTRY_MAX_ROW_BYTES); nothing written"
                    )
                tx.put(after)
        return tx.result()

    def _check_key_envs(self, before: Registry | None, after: Registry | None) -> None:
        """Refuse (400, naming the rule) a profile whose changed settings name a variable the key policy forbids.

        Only changed profiles are checked, so a row written before the policy existed can still be edited.
        """
        if after is None:
            return
        old = (before or {}).get("profiles") or {}
        for slug, profile in after["profiles"].items():
            settings = profile.get("inference_settings")
            if slug in old and settings == old[slug].get("inference_settings"):
                continue
            name = (settings_view(settings).get("api") or {}).get("api_key_env")
            reason = self.key_policy.refusal(name.strip()) if isinstance(name, str) and name.strip() else None
            if reason:
                raise ValidationError(f"profiles.{slug}.inference_settings", reason)

    def _precheck(self, view: ChainView, registry_slug: str, profile_slug: str | None, expected: int | None) -> None:
        """Answer a stale `expected_version` from the view, without queueing for the write lock.

        Only a version older than the view's is answered here: versions grow, so that 409 is as true as one
        from inside the transaction. A newer one may be the view lagging another instance's commit (PostgreSQL:
        the NOTIFY is milliseconds away), so the transaction answers it. Under contention most attempts end here.
        """
        if expected is None:
            return
        loaded = view.registries.get(registry_slug)
        if loaded is None:
            return
        if profile_slug is None:
            resource, slug, actual = "registry", registry_slug, edits.version_of(loaded.registry)
        else:
            profile = loaded.registry["profiles"].get(profile_slug)
            if profile is None:
                return
            resource, slug, actual = "profile", profile_slug, edits.version_of(profile)
        if expected < actual:
            raise VersionConflict(resource, slug, expected, actual)

    @staticmethod
    def _existing(current: Registry | None) -> Registry:
        if current is None:
            raise RegistryNotFound()
        return current

    def _edit_existing(self, operation: Callable[..., Registry], *args: Any, **fields: Any) -> Edit:
        """The transaction's edit: `operation` (one of registry.domain.edits) applied to the row as it is now.

        A row deleted since the request's view was taken is a 404, not a new registry.
        """

        def edit(current: Registry | None, now_ms: int) -> Registry:
            return operation(self._existing(current), *args, now_ms=now_ms, **fields)

        return edit

    # --- operations ----------------------------------------------------------------------------------------------

    def create_profile(
        self,
        registry_slug: str,
        fields: dict[str, Any],
        *,
        actor: str,
        source: str,
        set_default: bool = False,
        expected_version: int | None = None,
    ) -> RowWrite:
        """A new profile (version 1) in an existing registry; 409 if it exists."""
        refuse_go_types(fields, gotypes.PROFILE)
        profile = edits.build_profile(fields.get("slug"), fields)  # type: ignore[arg-type]
        self.validator.check_extensions(fields.get("extensions"))

        edit = self._edit_existing(
            edits.create_profile,
            profile,
            set_default=set_default,
            expected_version=expected_version,
            actor=actor,
            source=source,
        )
        return self._run(self.service.chain.view(), registry_slug, edit, body_pointer=in_profile(profile["slug"]))

    def update_profile(
        self,
        registry_slug: str,
        profile_slug: str,
        changes: dict[str, Any],
        *,
        actor: str,
        source: str,
        expected_version: int | None = None,
    ) -> RowWrite:
        """PATCH one profile: given fields replace, extensions merge by key."""
        refuse_go_types(changes, gotypes.PROFILE)
        self.validator.check_extensions(changes.get("extensions"))
        view = self.service.chain.view()
        self._precheck(view, registry_slug, profile_slug, expected_version)

        edit = self._edit_existing(
            edits.update_profile, profile_slug, changes, expected_version=expected_version, actor=actor, source=source
        )
        return self._run(view, registry_slug, edit, body_pointer=in_profile(profile_slug))

    def delete_profile(
        self, registry_slug: str, profile_slug: str, *, actor: str, source: str, expected_version: int | None = None
    ) -> RowWrite:
        """Remove one profile; refused while other profiles stack on it."""
        view = self.service.chain.view()
        self._precheck(view, registry_slug, profile_slug, expected_version)

        edit = self._edit_existing(
            edits.delete_profile, profile_slug, expected_version=expected_version, actor=actor, source=source
        )
        return self._run(view, registry_slug, edit)

    def set_default(
        self, registry_slug: str, profile_slug: str, *, actor: str, source: str, expected_version: int | None = None
    ) -> RowWrite:
        """Make a profile its registry's default."""
        view = self.service.chain.view()
        self._precheck(view, registry_slug, None, expected_version)

        edit = self._edit_existing(
            edits.set_default, profile_slug, expected_version=expected_version, actor=actor, source=source
        )
        return self._run(view, registry_slug, edit)

    def put_registry(
        self,
        registry: Registry,
        *,
        actor: str,
        source: str,
        expected_version: int | None = None,
        raw_profiles: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> RowWrite:
        """Create or replace a whole registry (profile map replaced wholesale, registry metadata kept).

        `raw_profiles` is the profile map as the client sent it, so schema errors point into the request.
        """
        sent = raw_profiles if raw_profiles is not None else registry["profiles"]
        refuse_go_types(sent, gotypes.MapOf(gotypes.PROFILE), "/profiles")
        refuse_go_types(registry.get("metadata"), gotypes.METADATA, "/metadata")
        self.validator.check_registry(sent)

        def edit(current: Registry | None, now_ms: int) -> Registry:
            return edits.put_registry(
                current, registry, expected_version=expected_version, actor=actor, source=source, now_ms=now_ms
            )

        return self._run(
            self.service.chain.view(),
            registry["slug"],
            edit,
            create=True,
            repair=True,
            dry_run=dry_run,
            body_pointer=profile_keys_as_sent(sent),
        )

    def delete_registry(self, slug: str, *, expected_version: int | None = None) -> RowWrite:
        """Delete a registry's row; refused while profiles elsewhere stack on its profiles."""

        def edit(current: Registry | None, now_ms: int) -> None:
            if current is not None:
                edits.delete_registry(current, expected_version=expected_version)
            elif expected_version:  # a quarantined row has no readable version
                raise VersionConflict("registry", slug, expected_version, 0)

        return self._run(self.service.chain.view(), slug, edit, repair=True)
