"""The profile documents' shape is held by the marshmallow schemas: field order, Go's omitempty, unset pointers."""

from __future__ import annotations

from registry.api.schemas import PROFILE_DOCUMENT, PROFILE_LIST, ProfileEntry
from registry.domain import gojson

PROFILE = {
    "slug": "analyst",
    "display_name": "",
    "description": "Reads filings",
    "stack": [],
    "inference_settings": {
        "model_info": {
            "Cost": {"Output": 2, "input": None, "cache_read": 0},
            "id": "m",
            "input": [],
            "reasoning": False,
        }
    },
    "metadata": {"tags": [], "version": 3, "source": "api"},
    "extensions": {"pinocchio.webchat_runtime@v1": {"system_prompt": None, "tools": None}},
}


def test_list_item_omits_empty_fields_in_the_reference_order():
    body = gojson.body(PROFILE_LIST.dump([ProfileEntry("default", {"default_profile_slug": "other"}, PROFILE)]))
    assert body == (
        b'[{"registry":"default","slug":"analyst","description":"Reads filings",'
        b'"extensions":{"pinocchio.webchat_runtime@v1":{"system_prompt":null,"tools":null}},'
        b'"model_info":{"id":"m","reasoning":false,"cost":{"input":0,"output":2}},"version":3}]\n'
    )


def test_detail_keeps_is_default_metadata_and_an_empty_runtime():
    body = gojson.body(PROFILE_DOCUMENT.dump(ProfileEntry("default", {"default_profile_slug": "other"}, PROFILE)))
    assert body == (
        b'{"registry":"default","slug":"analyst","description":"Reads filings","runtime":{},'
        b'"metadata":{"source":"api","version":3},'
        b'"extensions":{"pinocchio.webchat_runtime@v1":{"system_prompt":null,"tools":null}},'
        b'"model_info":{"id":"m","reasoning":false,"cost":{"input":0,"output":2}},"is_default":false}\n'
    )
