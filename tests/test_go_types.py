"""The reference's typed decoding (issue 13): what Go cannot decode is quarantined at load and refused at write.

The Go store decodes each row into typed structs (gep:pkg/engineprofiles/types.go, sqlite_store.go loadFromDB;
gep:pkg/steps/ai/settings/model_info.go, settings-*.go); a value a field cannot hold fails the decode and the
database does not open there. The generated-payload tests check that load and write give the same answer, and
that what the admin API writes is read back by a decoder that follows those types (`go_accepts` below, written
from the Go structs independently of registry.domain.gotypes).
"""

from __future__ import annotations

import json
import math
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from conftest import registry_payload, write_row
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry import create_app
from registry.domain import gojson
from registry.domain.model import decode_profile
from registry.web.app_state import app_state
from registry.web.auth import AdminToken

TOKEN = "types-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def writable_app(db: Path, tmp: Path):
    app = create_app(
        {
            "PROFILE_REGISTRIES": [str(db)],
            "DEFAULT_DATABASE": str(tmp / "unused.db"),
            "WRITABLE": True,
            "ADMIN_TOKENS": [AdminToken("alice", TOKEN)],
        }
    )
    app.config["TESTING"] = True
    return app


def stored_row(db: Path, slug: str) -> Any:
    conn = sqlite3.connect(db)
    try:
        row = conn.execute("SELECT payload_json FROM profile_registries WHERE slug = ?", (slug,)).fetchone()
    finally:
        conn.close()
    return None if row is None else json.loads(row[0])


def quarantined(client) -> dict[str, str]:
    return {q["slug"]: q["reason"] for q in client.get("/api/health").get_json()["quarantined"]}


@pytest.fixture
def env(tmp_path, make_app):
    db = tmp_path / "types.db"
    write_row(db, "default", registry_payload("default", {"base": {}}))
    app = make_app(db, WRITABLE=True, ADMIN_TOKENS=[AdminToken("alice", TOKEN)])
    return db, app.test_client()


# --- the examples ------------------------------------------------------------------------------------

EXAMPLES = [
    # (profile fields, JSON pointer inside the profile, words of the reason)
    ({"inference_settings": {"model_info": {"context_window": 1.5}}}, "/inference_settings/model_info/context_window",
     "1.5 cannot be decoded into Go int"),
    ({"inference_settings": {"ModelInfo": {"Max_Output_Tokens": 1.0}}},
     "/inference_settings/ModelInfo/Max_Output_Tokens", "1.0 cannot be decoded into Go int"),
    ({"inference_settings": {"Chat": {"MaxResponseTokens": "512"}}}, "/inference_settings/Chat/MaxResponseTokens",
     'the string "512" cannot be decoded into Go int'),
    ({"inference_settings": {"chat": {"temperature": "hot"}}}, "/inference_settings/chat/temperature",
     "cannot be decoded into Go float64"),
    ({"inference_settings": {"model_info": {"cost": {"input": "1"}}}}, "/inference_settings/model_info/cost/input",
     "cannot be decoded into Go float64"),
    ({"inference_settings": {"model_info": {"input": "text"}}}, "/inference_settings/model_info/input",
     "cannot be decoded into Go []string"),
    ({"inference_settings": {"Client": {"Timeout": "30s"}}}, "/inference_settings/Client/Timeout",
     "cannot be decoded into Go int64"),
]
# A stack ref's slug is also typed, but the admin API's own body schema refuses a non-string there first.
STACK_EXAMPLE = ({"stack": [{"profile_slug": "base", "registry_slug": 7}]}, "/stack/0/registry_slug",
                 "cannot be decoded into Go RegistrySlug")


@pytest.mark.parametrize(("fields", "where", "reason"), [*EXAMPLES, STACK_EXAMPLE])
def test_a_value_go_cannot_decode_is_quarantined_at_load(tmp_path, make_app, fields, where, reason):
    """gep:pkg/engineprofiles/sqlite_store.go loadFromDB: json.Unmarshal into the typed registry fails."""
    db = tmp_path / "bad.db"
    write_row(db, "default", registry_payload("default", {"base": {}}))
    write_row(db, "bad", registry_payload("bad", {"p": fields}))
    client = make_app(db).test_client()
    reasons = quarantined(client)
    assert set(reasons) == {"bad"}
    assert reasons["bad"].startswith(f"/profiles/p{where}: ") and reason in reasons["bad"]
    assert client.get("/api/chat/profiles?registry=bad").status_code == 500


@pytest.mark.parametrize(("fields", "where", "reason"), EXAMPLES)
def test_a_value_go_cannot_decode_is_refused_at_write_with_its_pointer(env, fields, where, reason):
    """The same types refuse the admin write (422, JSON pointer into the body); nothing is written."""
    db, client = env
    before = stored_row(db, "default")
    created = client.post("/api/chat/profiles", json={"slug": "p"} | fields, headers=AUTH)
    assert created.status_code == 422, created.get_data(as_text=True)
    assert created.get_json()["pointer"] == where and reason in created.get_json()["message"]
    put = client.put("/api/registries/other", json={"default_profile_slug": "p", "profiles": {"p": fields}},
                     headers=AUTH)
    assert put.status_code == 422 and put.get_json()["pointer"] == f"/profiles/p{where}"
    assert stored_row(db, "default") == before and stored_row(db, "other") is None


def test_metadata_version_as_a_string_is_quarantined_and_refused(env, tmp_path, make_app):
    """gep:pkg/engineprofiles/types.go: metadata.version is a uint64; "3" is a string."""
    db, client = env
    bad = registry_payload("bad", {"p": {"metadata": {"version": "3"}}})
    put = client.put("/api/registries/bad", json=bad, headers=AUTH)
    assert put.status_code == 422 and put.get_json()["pointer"] == "/profiles/p/metadata/version"
    assert stored_row(db, "bad") is None
    write_row(db, "bad", bad)
    assert quarantined(client)["bad"] == '/profiles/p/metadata/version: the string "3" cannot be decoded into Go uint64'
    # Never listed as if it were healthy (it used to show "version":"3").
    listed = client.get("/api/chat/profiles").get_json()
    assert [i["slug"] for i in listed if i["registry"] == "bad" and i["slug"] != "mock_parity"] == []


def test_registry_metadata_is_typed_too(env):
    db, client = env
    put = client.put("/api/registries/r", json={"metadata": {"version": -1}}, headers=AUTH)
    assert put.status_code == 422 and put.get_json()["pointer"] == "/metadata/version"
    assert stored_row(db, "r") is None


def test_non_finite_numbers_in_a_row_are_quarantined(tmp_path, make_app):
    """Go's decoder refuses NaN (not JSON) and 1e999 (out of float64's range) even inside extension values."""
    db = tmp_path / "nan.db"
    write_row(db, "default", registry_payload("default", {"base": {}}))
    payload = json.dumps(registry_payload("bad", {"p": {"extensions": {"a.b@v1": {"x": 1}}}}))
    write_row(db, "bad", payload.replace('"x": 1', '"x": 1e999'))
    nan = json.dumps(registry_payload("nan", {"p": {}})).replace('"metadata": {}}', '"metadata": {"tags": NaN}}', 1)
    write_row(db, "nan", nan)
    reasons = quarantined(make_app(db).test_client())
    assert reasons["bad"] == "/profiles/p/extensions/a.b@v1/x: the number is not a finite float64"
    assert set(reasons) == {"bad", "nan"}


def test_fields_match_case_insensitively_like_gos_decoder(tmp_path, make_app):
    """Go's encoding/json matches `Context_Window` and `CONTEXT_WINDOW` to the `context_window` field."""
    db = tmp_path / "case.db"
    settings = {"ModelInfo": {"CONTEXT_WINDOW": 1.5}}
    write_row(db, "default", registry_payload("default", {"p": {"inference_settings": settings}}))
    where = "/profiles/p/inference_settings/ModelInfo/CONTEXT_WINDOW"
    reason = f"{where}: the number 1.5 cannot be decoded into Go int"
    assert quarantined(make_app(db).test_client()) == {"default": reason}


def test_the_two_non_ascii_runes_go_folds_onto_ascii_letters_match_too(tmp_path, make_app):
    """bytes.EqualFold folds U+017F (long s) onto "s" and U+212A (Kelvin sign) onto "k": `\u017flug` is `slug`."""
    db = tmp_path / "runes.db"
    settings = {"ModelInfo": {"context_window": 8, "quality_high_watermar\u212a": 1.5}}
    write_row(db, "default", registry_payload("default", {"p": {"inference_settings": settings}}))
    where = "/profiles/p/inference_settings/ModelInfo/quality_high_watermar\u212a"
    reason = f"{where}: the number 1.5 cannot be decoded into Go int"
    assert quarantined(make_app(db).test_client()) == {"default": reason}
    # The profile decoder reads a key spelled with the long s as the field it folds onto.
    assert decode_profile({"\u017flug": "p", "di\u017fplay_name": "Shown"}, "p")["display_name"] == "Shown"


@given(st.dictionaries(st.text(alphabet="sSkKlugLUG_\u017f\u212a\u00e9", max_size=5), st.integers(), max_size=6),
       st.sampled_from(["slug", "sku", "ks", "lug_s", "g"]))
def test_folding_an_object_once_finds_what_a_scan_per_field_finds(obj, name):
    """gojson.folded (one pass, used by the decoders) and gojson.field (a scan, the definition) agree.

    Both let the last of several keys folding alike win, as Go's decoder does.
    """
    assert gojson.folded(obj).get(gojson.fold(name)) == gojson.field(obj, name)


def test_keys_go_does_not_decode_are_ignored(tmp_path, make_app):
    """Unknown keys, at any level the reference decodes, are dropped by Go's decoder, never an error."""
    fields = {
        "inference_settings": {"model_info": {"cost": {"input": 1, "discount": "x"}, "colour": 1.5},
                               "Chat": {"Unknown": "x", "api_type": 7}, "whatever": [1]},
        "metadata": {"note": "free text", "version": 2},
        "surprise": {"a": 1},
    }
    db = tmp_path / "unknown.db"
    write_row(db, "default", registry_payload("default", {"p": fields}))
    assert quarantined(make_app(db).test_client()) == {}


# --- generated payloads: load and write agree, and the written row decodes with the reference's types ----------

# Typed leaves of a profile, written down from the Go structs: (path from the profile, Go kind).
LEAVES: list[tuple[tuple[str, ...], str]] = [
    (("inference_settings", "model_info", "id"), "string"),
    (("inference_settings", "model_info", "reasoning"), "bool"),
    (("inference_settings", "model_info", "input"), "[]string"),
    (("inference_settings", "model_info", "context_window"), "int"),
    (("inference_settings", "model_info", "max_output_tokens"), "int"),
    (("inference_settings", "model_info", "cost", "input"), "float64"),
    (("inference_settings", "model_info", "metadata"), "map[string]any"),
    (("inference_settings", "Chat", "Engine"), "string"),
    (("inference_settings", "Chat", "Temperature"), "float64"),
    (("inference_settings", "Chat", "Stream"), "bool"),
    (("inference_settings", "Client", "Timeout"), "int64"),
    (("inference_settings", "Inference", "seed"), "int"),
    (("metadata", "version"), "uint64"),
    (("metadata", "created_at_ms"), "int64"),
    (("metadata", "tags"), "[]string"),
    (("display_name",), "string"),
]


def go_accepts(kind: str, value: Any) -> bool:
    """Whether Go's encoding/json decodes `value` into a field of this kind (null always decodes)."""
    if value is None:
        return True
    if kind == "string":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "float64":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind in ("int", "int64"):
        return type(value) is int and -(2**63) <= value < 2**63
    if kind == "uint64":
        return type(value) is int and 0 <= value < 2**64
    if kind == "[]string":
        return isinstance(value, list) and all(v is None or isinstance(v, str) for v in value)
    if kind == "map[string]any":
        return isinstance(value, dict)
    raise AssertionError(kind)


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=0, max_value=2**65),
    st.floats(min_value=0, max_value=1e6, allow_nan=False),
    st.text(max_size=5),
)
json_values = st.one_of(
    json_scalars,
    st.lists(st.one_of(st.none(), st.text(max_size=3), st.integers(0, 9)), max_size=3),
    st.dictionaries(st.text(max_size=3), json_scalars, max_size=2),
)


@st.composite
def profiles(draw) -> tuple[dict[str, Any], bool]:
    """A profile with some typed leaves set to generated values, and whether the reference decodes it."""
    chosen = draw(st.lists(st.sampled_from(LEAVES), min_size=1, max_size=5, unique=True))
    profile: dict[str, Any] = {}
    decodes = True
    for path, kind in chosen:
        value = draw(json_values)
        node = profile
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
        decodes = decodes and go_accepts(kind, value)
    return profile, decodes


def decode_like_go(profile: dict[str, Any]) -> bool:
    """Read a stored profile back through the typed leaves above."""
    for path, kind in LEAVES:
        node: Any = profile
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if not go_accepts(kind, node):
            return False
    return True


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profiles())
def test_load_and_write_agree_on_generated_profiles(generated):
    """A payload the admin API writes is one Go decodes and we load healthy; one it refuses would be quarantined."""
    profile, decodes = generated
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        db = tmp_path / "gen.db"
        write_row(db, "default", registry_payload("default", {"base": {}}))
        app = writable_app(db, tmp_path)
        try:
            client = app.test_client()
            written = client.put("/api/registries/gen", json={"default_profile_slug": "p", "profiles": {"p": profile}},
                                 headers=AUTH)
            if decodes:
                assert written.status_code in (200, 201), written.get_data(as_text=True)
                row = stored_row(db, "gen")
                assert decode_like_go(row["profiles"]["p"])
                assert quarantined(client) == {}
            else:
                assert written.status_code == 422, written.get_data(as_text=True)
                assert stored_row(db, "gen") is None
                # The same payload put in behind the service's back is quarantined, not served.
                write_row(db, "gen", registry_payload("gen", {"p": profile}))
                assert set(quarantined(client)) == {"gen"}
        finally:
            app_state(app).service.chain.close()


# --- YAML sources are judged by the same types ------------------------------------------------------------------

YAML_EXAMPLES = [
    ("inference_settings:\n      model_info:\n        context_window: 1.5\n",
     '/profiles/p/inference_settings/model_info/context_window: the number 1.5 cannot be decoded into Go int'),
    ("metadata:\n      version: \"3\"\n",
     '/profiles/p/metadata/version: the string "3" cannot be decoded into Go uint64'),
]


@pytest.mark.parametrize(("profile_yaml", "reason"), YAML_EXAMPLES)
def test_a_yaml_source_go_cannot_decode_is_quarantined_like_a_row(tmp_path, make_app, profile_yaml, reason):
    """A `--profile-registries` YAML file with such a value is quarantined with the reason a SQLite row gets.

    It used to be served as healthy (the list even showed "version":"3"); a row with the same registry was
    quarantined with this reason and pointer (gep:pkg/engineprofiles/sqlite_store.go loadFromDB).
    """
    db = tmp_path / "good.db"
    write_row(db, "default", registry_payload("default", {"base": {}}))
    source = tmp_path / "bad.yaml"
    source.write_text("slug: bad\nprofiles:\n  p:\n    slug: p\n    " + profile_yaml, encoding="utf-8")
    client = make_app(db, source).test_client()
    assert quarantined(client) == {"bad": reason}
    assert client.get("/api/health").get_json()["status"] == "degraded"
    assert client.get("/api/chat/profiles?registry=bad").status_code == 500
    listed = client.get("/api/chat/profiles").get_json()
    assert [i["slug"] for i in listed if i["registry"] == "bad" and i["slug"] != "mock_parity"] == []
    # The same registry as a SQLite row gets the very same reason.
    import yaml

    row_db = tmp_path / "row.db"
    write_row(row_db, "bad", yaml.safe_load(source.read_text(encoding="utf-8")))
    assert quarantined(make_app(row_db).test_client()) == {"bad": reason}


# --- keys differing only in case (README, decisions) ------------------------------------------------------------

CASE_DUPLICATES = [
    # (registry payload with two keys naming one Go field, JSON pointer of the object holding them, the keys)
    ({"slug": "dup", "Slug": "dup"}, "/", ("slug", "Slug")),
    ({"slug": "dup", "profiles": {"p": {"slug": "p", "metadata": {"version": 1}, "Metadata": {"version": 2}}}},
     "/profiles/p", ("metadata", "Metadata")),
    ({"slug": "dup", "profiles": {"p": {"slug": "p", "inference_settings": {
        "chat": {"engine": "a"}, "Chat": {"api_type": "openai"}}}}}, "/profiles/p/inference_settings",
     ("chat", "Chat")),
    ({"slug": "dup", "profiles": {"p": {"slug": "p", "inference_settings": {
        "model_info": {"context_window": 8, "Context_Window": 16}}}}}, "/profiles/p/inference_settings/model_info",
     ("context_window", "Context_Window")),
]


@pytest.mark.parametrize(("payload", "where", "keys"), CASE_DUPLICATES)
def test_keys_differing_only_in_case_are_refused_alike_at_load_and_write(env, make_app, payload, where, keys):
    """Go assigns both keys to one field in document order (a later string wins, two objects merge); we refuse
    such a document instead, the same way at load (quarantine) and at write (422), with both keys named."""
    db, client = env
    # Sent as text: the test client's `json=` would sort the keys.
    put = client.put("/api/registries/dup", data=json.dumps(payload), content_type="application/json", headers=AUTH)
    assert put.status_code == 422, put.get_data(as_text=True)
    assert f'the keys "{keys[0]}" and "{keys[1]}" both name the field' in str(put.get_json())
    assert stored_row(db, "dup") is None
    write_row(db, "dup", payload)
    reason = quarantined(make_app(db).test_client())["dup"]
    assert reason.startswith(f"{where}: the keys \"{keys[0]}\" and \"{keys[1]}\" both name the field"), reason


def test_a_profile_body_with_keys_differing_only_in_case_is_refused(env):
    db, client = env
    before = stored_row(db, "default")
    created = client.post("/api/chat/profiles", data='{"slug": "p", "Slug": "q"}', content_type="application/json",
                          headers=AUTH)
    assert created.status_code == 422 and 'the keys "slug" and "Slug" both name the field' in str(created.get_json())
    patched = client.patch("/api/chat/profiles/base", data='{"inference_settings": {"chat": {}, "CHAT": {}}}',
                           content_type="application/json", headers=AUTH)
    assert patched.status_code == 422 and patched.get_json()["pointer"] == "/inference_settings"
    assert stored_row(db, "default") == before
