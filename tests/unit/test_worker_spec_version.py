"""Stored specs carry the contract's version: load_stored_spec upgrades or refuses them with the field and reason."""

from __future__ import annotations

import pytest

from contrastlab.core.spec import SPEC_VERSION, RunSpec, load_stored_spec

STORED = {"method": "supcon", "dataset": "digits", "epochs": 3, "temperature": 0.1}


def test_a_valid_stored_spec_loads_with_its_values():
    spec = load_stored_spec(STORED, 1)
    assert isinstance(spec, RunSpec)
    assert (spec.method, spec.epochs, spec.temperature) == ("supcon", 3, 0.1)


def test_a_spec_no_longer_valid_names_its_version_field_and_reason():
    with pytest.raises(ValueError) as refused:
        load_stored_spec({**STORED, "temperature": 0.001}, 1)
    assert str(refused.value) == ("spec from version 1 is no longer valid: temperature: "
                                  "Input should be greater than or equal to 0.01")


def test_a_removed_choice_and_a_cross_field_check_are_named_too():
    with pytest.raises(ValueError, match=r"^spec from version 1 is no longer valid: method: "):
        load_stored_spec({**STORED, "method": "byol_v2"}, 1)
    with pytest.raises(ValueError, match=r"^spec from version 1 is no longer valid: warmup_epochs: must be smaller "
                                         r"than epochs \(3\)"):
        load_stored_spec({**STORED, "warmup_epochs": 3}, 1)


def test_a_spec_from_newer_code_asks_for_a_worker_update():
    with pytest.raises(ValueError, match=f"newer than this code's {SPEC_VERSION}; update the worker"):
        load_stored_spec(STORED, SPEC_VERSION + 1)
