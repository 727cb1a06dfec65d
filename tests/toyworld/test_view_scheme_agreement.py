"""The trainer names its cameras' views exactly as the toy prior's training captions do (one function,
`atom.prompts.views.ViewScheme`), and refuses a guidance folder trained with another view scheme."""

from __future__ import annotations

import shutil

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from atom.config import CONF_DIR, asset_path, register_configs
from atom.prompts.views import SECTORS8, VIEW_SCHEMES, read_view_scheme, save_view_scheme
from atom.render import sample_cameras
from atom.toyworld.renders import render_dataset
from atom.training.atom_system import AToMSystem

SMALL = dict(resolution=16, supersample=2, mesh_resolution=16, progress=False, cache_dir=None)


def _system(*overrides: str) -> AToMSystem:
    register_configs()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=toy64", "run_dir=/tmp/unused", "embedding_cache=null",
                                          *overrides])
    return AToMSystem(OmegaConf.to_object(cfg), torch.device("cpu"))


def test_trainer_refuses_a_prior_trained_with_another_view_scheme():
    bundled = read_view_scheme(asset_path("toy_prior"))
    assert bundled is not None, "the bundled toy prior records its view scheme"
    other = next(name for name in VIEW_SCHEMES if name != bundled.name)
    with pytest.raises(ValueError, match=f"'{other}' is configured.*trained with view scheme '{bundled.name}'"):
        _system(f"guidance.view_scheme={other}")


def test_trainer_and_prior_data_name_views_alike(tmp_path):
    """A prior folder recording sectors8, configured as such: the trainer's label of each camera is the view in
    the prior data's caption for the same camera (object 0 draws its cameras first from the seed)."""
    prior = tmp_path / "prior"
    shutil.copytree(asset_path("toy_prior"), prior)
    save_view_scheme(prior, SECTORS8)
    system = _system(f"guidance.path={prior}", "guidance.view_scheme=sectors8")
    renders = render_dataset(object_ids=[0], seed=7, view_scheme="sectors8", views_per_object=48, **SMALL)
    cameras = sample_cameras(48, generator=torch.Generator().manual_seed(7))
    captions = [caption.split(", ")[1].removesuffix(" view") for caption in renders.captions]
    assert system.view_labels(cameras) == captions and len(set(captions)) == 8
    assert system.view_embeddings.tokens.shape[1] == len(SECTORS8.labels)
