"""The typed config: a leaf module, every choice an enum (a bad value stops the run at start naming the accepted
ones), the enums agree with the rooms they feed, and every score-distillation argument is reachable."""

from __future__ import annotations

import dataclasses
import inspect
import os
import subprocess
import sys
import typing
from enum import Enum
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from atom import build
from atom.config import (
    CONF_DIR,
    DType,
    EvaluateConfig,
    GuidanceConfig,
    GuidanceKind,
    Holdout,
    ImageToMeshConfig,
    InferConfig,
    ModelConfig,
    ReconstructionPreset,
    SDSWeighting,
    TimestepAnneal,
    TrainConfig,
    ViewSchemeName,
    ViewSuffix,
    register_configs,
)
from atom.guidance.score_distillation import DTYPES as GUIDANCE_DTYPES
from atom.guidance.score_distillation import ScoreDistillation
from atom.guidance.timestep_schedule import ANNEALS, WEIGHTINGS
from atom.model import TextToMeshConfig
from atom.model.reconstruction import RECONSTRUCTION_PRESETS
from atom.prompts.prompt_set import HOLDOUTS
from atom.prompts.views import VIEW_SCHEMES, VIEWS
from atom.text.cache import TextCacheConfig
from atom.text.pretrained import DTYPES as TEXT_DTYPES
from atom.toyworld.prior import PREDICTION_TYPES
from atom.toyworld.prior_check import PriorCheckCommandConfig, PriorView
from atom.toyworld.train_prior import PredictionType, TrainPriorConfig

SCHEMAS = [TrainConfig, InferConfig, EvaluateConfig, TextCacheConfig, PriorCheckCommandConfig, TrainPriorConfig,
           ImageToMeshConfig]

# The str (and list-of-str) fields that are free text (paths, hub ids, names, prompts, devices), not a choice
# among a few values. A new str field must be added here or be an enum (entries of other branches' schemas may
# come first: the check is that every str field found is listed).
FREE_TEXT = {
    "TextConfig": {"path", "subfolder", "tokenizer_subfolder"},
    "GuidanceConfig": {"path", "variant", "negative_prompt"},
    "PromptsConfig": {"file", "prompts", "slots", "template", "test_prompts", "wordings_file"},
    "TrainerConfig": {"device", "resume"},  # resume: auto | none | a path
    "LoggerConfig": {"project", "entity", "name", "tags"},
    "TrainConfig": {"embedding_cache", "run_dir"},
    "CRMTrainConfig": {"lpips_path", "init_from", "generated_pool"},
    "EvaluateConfig": {"ckpt", "device", "output", "prompts", "prompts_file"},
    "CLIPMetricConfig": {"path"},
    "InferConfig": {"ckpt", "prompts", "prompts_file", "out_dir", "device"},
    "InterpolateConfig": {"prompts"},
    "TextCacheConfig": {"prompt", "prompts_file", "cache_dir", "device"},
    "PriorCheckCommandConfig": {"path"},
    "PriorDataConfig": {"cache_dir"},
    "TrainPriorConfig": {"output_dir"},
    "PriorTrainConfig": {"init_from"},
    "ImageToMeshConfig": {"image", "prompt", "models", "views_model", "ccms_model", "reconstruction_model", "out_dir",
                          "device"},
    "TextToImageConfig": {"path", "text_path"},
}


def _walk(schema: type, prefix: str = ""):
    """(dotted key, dataclass, field name, resolved type) of every leaf field, nested dataclasses expanded."""
    hints = typing.get_type_hints(schema)
    for f in dataclasses.fields(schema):
        kind = hints[f.name]
        inner = [a for a in typing.get_args(kind) if a is not type(None)]
        nested = kind if dataclasses.is_dataclass(kind) else (inner[0] if len(inner) == 1 and
                                                              dataclasses.is_dataclass(inner[0]) else None)
        if nested is not None:
            yield from _walk(nested, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", schema, f.name, kind


def _compose(*overrides: str):
    register_configs()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=list(overrides))


def test_config_imports_no_room():
    """``import atom.config`` in a fresh interpreter loads no other module of the package."""
    code = "import sys, atom.config; print(sorted(m for m in sys.modules if m.split('.')[0] == 'atom'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["['atom',", "'atom.config']"], result.stdout


def test_every_str_field_is_free_text():
    """Choices are enums: a str field must be a path, name, prompt or device (listed in FREE_TEXT)."""
    found: dict[str, set[str]] = {}
    for schema in SCHEMAS:
        for _, owner, name, kind in _walk(schema):
            if str in (kind, *typing.get_args(kind)):
                found.setdefault(owner.__name__, set()).add(name)
    unlisted = {owner: names - FREE_TEXT.get(owner, set()) for owner, names in found.items()}
    assert not any(unlisted.values()), unlisted


@pytest.mark.parametrize(("enum", "accepted"), [
    (SDSWeighting, WEIGHTINGS), (TimestepAnneal, ANNEALS), (Holdout, HOLDOUTS), (DType, tuple(GUIDANCE_DTYPES)),
    (DType, tuple(TEXT_DTYPES)), (PredictionType, PREDICTION_TYPES), (PriorView, VIEWS), (ViewSuffix, VIEWS),
    (ReconstructionPreset, tuple(RECONSTRUCTION_PRESETS)), (ViewSchemeName, tuple(VIEW_SCHEMES)),
])
def test_enums_match_what_the_rooms_accept(enum, accepted):
    assert sorted(member.value for member in enum) == sorted(accepted)
    assert all(member.name == member.value for member in enum)  # the command line names the value


def test_model_schema_matches_the_generator_config():
    """``ModelConfig`` (config, a leaf) repeats ``TextToMeshConfig`` (model room): same fields, types, defaults,
    but for the extractor, which training sets from ``stage2.geometry``."""
    def describe(cls):
        hints = typing.get_type_hints(cls)
        return [(f.name, hints[f.name], f.default) for f in dataclasses.fields(cls) if f.name != "extractor"]

    assert describe(ModelConfig) == describe(TextToMeshConfig)
    model = OmegaConf.to_object(_compose("model=atom")).model
    assert build.build_model(model).config == TextToMeshConfig(**dataclasses.asdict(model))


def _train_enum_fields():
    return [(key, kind) for key, _, _, kind in _walk(TrainConfig) if isinstance(kind, type) and issubclass(kind, Enum)]


@pytest.mark.parametrize(("key", "enum"), _train_enum_fields(), ids=[k for k, _ in _train_enum_fields()])
def test_a_bad_choice_fails_at_compose_naming_the_accepted_values(key, enum):
    preset = "guidance=stable_diffusion"  # the preset with a guidance.text section
    assert isinstance(OmegaConf.select(_compose(preset), key), enum)  # the composed config holds enum members
    with pytest.raises(Exception) as info:
        _compose(preset, f"{key}=bogus")
    message = str(info.value) + str(info.value.__cause__)
    assert f"Invalid value 'bogus', expected one of [{', '.join(m.name for m in enum)}]" in message


def test_a_bad_precision_stops_the_command_line_at_start(tmp_path):
    result = subprocess.run([sys.executable, "-m", "atom.train", "trainer.precision=fp61", f"run_dir={tmp_path}"],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode != 0
    assert "Invalid value 'fp61', expected one of [fp32, bf16, fp16]" in result.stderr
    assert not (tmp_path / "checkpoints").exists()


def test_every_score_distillation_argument_is_reachable_from_config(monkeypatch):
    """``build_guidance`` passes every argument of ``ScoreDistillation`` (none left at its default silently),
    each from its own config key."""
    received = {}

    class Recorder:
        def __init__(self, **kwargs):
            received.update(kwargs)

        def to(self, device):
            return self

    monkeypatch.setattr(build, "PixelSDS", Recorder)
    cfg = GuidanceConfig(
        kind=GuidanceKind.pixel, path="/models/if", guidance_scale=7.0, resolution=32,
        weighting=SDSWeighting.fantasia, t_min=0.1, t_max=0.9, anneal=TimestepAnneal.sqrt, final_t_max=0.4,
        anneal_start=0.2, anneal_end=0.8, dtype=DType.bfloat16, variant="fp16", channels_last=True,
        attention_slicing=True, xformers=True, grad_clip=2.0, use_attention_mask=True)
    build.build_guidance(cfg, "cpu")
    arguments = [name for name in inspect.signature(ScoreDistillation.__init__).parameters if name != "self"]
    assert sorted(received) == sorted(arguments)
    for name in arguments:
        value = getattr(cfg, name)
        assert received[name] == (value.value if isinstance(value, Enum) else value), name


def test_builders_take_the_typed_objects(tmp_path):
    """Rooms receive the dataclasses of ``OmegaConf.to_object`` (and a DictConfig node of the schema reads the
    same)."""
    cfg = _compose("prompts=pig64", "prompts.holdout=none")
    typed = OmegaConf.to_object(cfg)
    assert isinstance(typed, TrainConfig) and typed.prompts.holdout is Holdout.none
    from_object, from_node = build.build_prompt_set(typed.prompts), build.build_prompt_set(cfg.prompts)
    assert from_object.prompts == from_node.prompts and not from_object.test
