"""RunSpec: defaults, bounds and the JSON Schema the form is built from."""

import pytest
from pydantic import ValidationError

from contrastlab.core.spec import RunSpec, run_spec_schema


def test_minimal_spec_gets_defaults():
    spec = RunSpec.model_validate({"method": "simclr", "dataset": "digits", "epochs": 2, "batch_size": 128})
    assert spec.epochs == 2 and spec.batch_size == 128
    assert spec.encoder == "small_cnn" and spec.temperature == 0.5 and spec.seed == 0
    assert spec.model_dump(mode="json")["method"] == "simclr"


@pytest.mark.parametrize(
    ("field", "value"),
    [("epochs", 0), ("batch_size", 1), ("lr", 0), ("temperature", 0.0), ("method", "byol_v2"),
     ("dataset", "imagenet-1k"), ("crop_scale_min", 1.5), ("name", "x" * 121), ("max_train_samples", 3)],
)
def test_out_of_bounds_value_names_the_field(field, value):
    with pytest.raises(ValidationError) as info:
        RunSpec.model_validate({field: value})
    assert [e["loc"] for e in info.value.errors()] == [(field,)]


def test_unknown_field_is_refused():
    with pytest.raises(ValidationError) as info:
        RunSpec.model_validate({"epoch": 3})
    assert info.value.errors()[0]["loc"] == ("epoch",)


def test_warmup_must_be_shorter_than_training():
    with pytest.raises(ValidationError) as info:
        RunSpec.model_validate({"epochs": 3, "warmup_epochs": 3})
    error = info.value.errors()[0]
    assert error["loc"] == ("warmup_epochs",) and "smaller than epochs (3)" in error["msg"]


def test_schema_carries_defaults_bounds_help_and_groups():
    schema = run_spec_schema()
    props = schema["properties"]
    assert props["epochs"]["default"] == 10 and props["epochs"]["minimum"] == 0
    assert props["temperature"]["methods"] == ["simclr", "supcon"]
    assert props["margin"]["methods"] == ["contrastive", "triplet_batch_hard", "triplet_batch_all",
                                          "triplet_semihard"]
    assert "supervised" not in props["projection_dim"]["methods"]
    assert props["data_path"]["datasets"] == ["image_folder"] and props["nesterov"]["optimizers"] == ["sgd"]
    assert props["lr_step_epochs"]["schedules"] == props["lr_step_gamma"]["schedules"] == ["step"]
    # digits and Fashion-MNIST keep their own size: image_size is n/a there (the form hides it, diffs say n/a).
    assert "cifar10" in props["image_size"]["datasets"]
    assert not {"digits", "fashion_mnist"} & set(props["image_size"]["datasets"])
    assert all("group" in p and p.get("description") for p in props.values())
    assert schema["properties"]["method"]["enum"] == ["simclr", "supcon", "contrastive", "npairs", "triplet_batch_hard",
                                                 "triplet_batch_all", "triplet_semihard", "byol", "moco_v3", "simsiam",
                                                 "vicreg", "barlow_twins", "dino", "swav", "nnclr", "supervised"]
    assert props["small_crops"]["methods"] == ["dino", "swav"] and props["swav_epsilon"]["methods"] == ["swav"]


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [({"epochs": 0}, "epochs", "needs init_from_run"),
     ({"dataset": "image_folder"}, "data_path", "needs data_path"),
     ({"dataset": "digits", "data_path": "/x"}, "data_path", "image_folder only"),
     ({"dataset": "stl10", "use_unlabeled": True, "method": "supcon"}, "use_unlabeled", "no labels"),
     ({"dataset": "cifar10", "use_unlabeled": True}, "use_unlabeled", "stl10 only"),
     ({"crop_scale_min": 0.5, "crop_scale_max": 0.4}, "crop_scale_max", "crop_scale_min (0.5)"),
     ({"blur_sigma_min": 2.0, "blur_sigma_max": 1.0}, "blur_sigma_max", "blur_sigma_min (2.0)")],
)
def test_inconsistent_fields_name_the_field_and_the_fix(values, field, words):
    with pytest.raises(ValidationError) as info:
        RunSpec.model_validate(values)
    error = info.value.errors()[0]
    assert error["loc"] == (field,) and words in error["msg"]


def test_evaluate_only_is_epochs_zero_with_an_earlier_run():
    spec = RunSpec(epochs=0, init_from_run=7)
    assert spec.epochs == 0 and spec.init_from_run == 7
    assert RunSpec(dataset="stl10", use_unlabeled=True).use_unlabeled


def test_spec_module_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, contrastlab.core.spec; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
