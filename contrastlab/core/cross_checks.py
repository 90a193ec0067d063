"""The RunSpec's checks across fields (epochs and init_from_run, crop and blur ranges, the batch over devices,
what a dataset allows), as (field, message) pairs so each error points at the field to change."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from contrastlab.core.catalog import DATASETS, METHODS
from contrastlab.core.choices import STREAMABLE


def cross_field_problems(v: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for each check across fields that fails; a check whose fields are missing is skipped."""
    problems: list[tuple[str, str]] = []
    if "epochs" in v and "init_from_run" in v and v["epochs"] == 0 and v["init_from_run"] is None:
        problems.append(("epochs", "0 (evaluate only) needs init_from_run, the run whose encoder to evaluate; "
                                   "set init_from_run or train for 1 epoch or more"))
    if "warmup_epochs" in v and "epochs" in v and 0 < v["epochs"] <= v["warmup_epochs"]:
        problems.append(("warmup_epochs", f"must be smaller than epochs ({v['epochs']}); lower warmup_epochs "
                                          "or raise epochs"))
    for low, high in (("crop_scale_min", "crop_scale_max"), ("blur_sigma_min", "blur_sigma_max")):
        if low in v and high in v and v[high] < v[low]:
            problems.append((high, f"must be at least {low} ({v[low]}); raise {high} or lower {low}"))
    if v.get("use_unlabeled") and "dataset" in v and v["dataset"] != "stl10":
        problems.append(("use_unlabeled", "applies to dataset stl10 only; switch it off"))
    elif v.get("use_unlabeled") and v.get("method") in METHODS and METHODS[v["method"]].needs_labels:
        problems.append(("use_unlabeled", f"unlabeled images have no labels for method {v['method']}; "
                                          "use method simclr or switch use_unlabeled off"))
    if "batch_size" in v and "devices" in v and v["batch_size"] % v["devices"]:
        problems.append(("batch_size", f"must be a multiple of devices ({v['devices']}): each device takes an "
                                       "equal share of the global batch; round batch_size to a multiple"))
    if "data_path" in v and v.get("dataset") == "image_folder" and not v["data_path"]:
        problems.append(("data_path", "dataset image_folder needs data_path, a folder of class sub-folders"))
    if v.get("data_loading") == "stream" and v.get("dataset") in DATASETS and v["dataset"] not in STREAMABLE:
        problems.append(("data_loading", f"dataset {v['dataset']} is small and always sits in memory; "
                                         "choose auto or memory"))
    if v.get("data_path") and "dataset" in v and v["dataset"] != "image_folder":
        problems.append(("data_path", f"applies to dataset image_folder only, not {v['dataset']}; leave it empty"))
    return problems


def problem_details(values: dict[str, Any]) -> list[InitErrorDetails]:
    return [InitErrorDetails(type=PydanticCustomError("value_error", "{message}", {"message": message}),
                             loc=(field,), input=values.get(field)) for field, message in cross_field_problems(values)]


def as_details(error: ValidationError) -> list[InitErrorDetails]:
    """A ValidationError's entries, re-raisable beside others (type, place, message and input kept)."""
    return [InitErrorDetails(type=PydanticCustomError(e["type"], "{message}", {"message": e["msg"]}),
                             loc=e["loc"], input=e["input"]) for e in error.errors()]


def validation_error(title: str, details: list[InitErrorDetails]) -> ValidationError:
    # One error per field it names, so the form and the 422 point at that field.
    return ValidationError.from_exception_data(title, details)
