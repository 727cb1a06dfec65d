"""AToM's training system on tiny models: no text encoder once every prompt is cached, NeuS's cosine annealing
driven by the step, the trainer's view of a system limited to its interface, and the render cameras handed to a
camera-conditioned guidance model."""

from __future__ import annotations

import pytest
import torch

from atom.guidance import camera_features
from atom.prompts.views import DREAMFUSION4
from atom.toyworld.prior import build_prior_scheduler, build_prior_unet, save_prior
from atom.training import atom_system
from atom.training.atom_system import AToMSystem
from atom.training.build import build_trainer


def test_cached_prompts_need_no_text_encoder(tiny_config, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cfg = tiny_config(tmp_path / "run", f"embedding_cache={cache}")
    first = build_trainer(cfg, tmp_path / "run")  # builds the encoder once and fills the cache

    def refuse(*args, **kwargs):
        raise AssertionError("the text encoder was built although every prompt is cached")

    monkeypatch.setattr(atom_system, "build_text_encoder", refuse)
    second = build_trainer(tiny_config(tmp_path / "run2", f"embedding_cache={cache}"), tmp_path / "run2")
    assert (second.system.text.tokens == first.system.text.tokens).all()
    assert (second.system.view_embeddings.tokens == first.system.view_embeddings.tokens).all()
    # a prompt missing from the cache does need the encoder
    with pytest.raises(AssertionError, match="text encoder was built"):
        build_trainer(tiny_config(tmp_path / "run3", f"embedding_cache={cache}",
                                  "prompts.test_prompts=[a purple cone]"), tmp_path / "run3")


@pytest.mark.parametrize("anneal_steps, expected", [(0, [1.0, 1.0, 1.0]), (4, [0.0, 0.25, 0.5])])
def test_cos_anneal_ratio_follows_the_step(tiny_config, tmp_path, anneal_steps, expected):
    trainer = build_trainer(tiny_config(tmp_path / "run", f"stage1.cos_anneal_steps={anneal_steps}",
                                        "trainer.max_steps=3"), tmp_path / "run")
    ratios = []
    for _ in range(3):
        ratios.append(trainer.train_step().metrics["train/cos_anneal_ratio"])
        trainer.step += 1
    assert ratios == expected
    assert isinstance(trainer.system, AToMSystem)


def test_prompt_augmentation_feeds_other_wordings_to_the_generator_and_keeps_the_sds_text(
        tiny_config, tmp_path, monkeypatch):
    wordings = tmp_path / "wordings.json"
    wordings.write_text('{"a red cube": ["a ruby die"], "a blue sphere": ["a navy globe"]}')
    trainer = build_trainer(tiny_config(tmp_path / "run", "prompts.wordings=file", f"prompts.wordings_file={wordings}",
                                        "prompts.keep_wording_probability=0.0"), tmp_path / "run")
    system = trainer.system
    assert system.wordings.texts[4:] == ["a ruby die", "a navy globe"] and len(system.text) == 6
    batch = system.sample_batch(0, torch.Generator().manual_seed(0))
    other = {"a red cube": "a ruby die", "a blue sphere": "a navy globe"}  # the green cone has none: itself
    expected = [other.get(system.prompts.prompts[p], system.prompts.prompts[p]) for p in batch.prompt_ids.tolist()]
    assert [system.wordings.texts[t] for t in batch.text_ids.tolist()] == expected
    batch = next(b for b in (system.sample_batch(0, torch.Generator().manual_seed(s)) for s in range(20))
                 if any(t >= 4 for t in b.text_ids.tolist()))
    read, looked_up = [], []
    model_forward, lookup = system.model.forward, system.view_embeddings.lookup
    monkeypatch.setattr(system.model, "forward",
                        lambda tokens, mask: read.append(tokens) or model_forward(tokens, mask))
    monkeypatch.setattr(system.view_embeddings, "lookup",
                        lambda ids, labels: looked_up.append(ids) or lookup(ids, labels))
    system(batch)
    assert torch.equal(read[0], system.text.tokens[batch.text_ids])  # the generator reads the other wording
    assert torch.equal(looked_up[0], batch.prompt_ids)  # the SDS target is the prompt's own text


def test_without_augmentation_the_generator_reads_the_prompts_themselves(tiny_config, tmp_path):
    trainer = build_trainer(tiny_config(tmp_path / "run"), tmp_path / "run")
    batch = trainer.system.sample_batch(0, torch.Generator().manual_seed(0))
    assert trainer.system.wordings is None and torch.equal(batch.text_ids, batch.prompt_ids)
    assert len(trainer.system.text) == len(trainer.system.prompts.prompts)

def test_a_camera_conditioned_guidance_gets_the_render_cameras(tiny_config, tmp_path):
    """The SDS call receives the features of the very cameras the step rendered from (fails if AToMSystem
    passes none: the camera-conditioned UNet then raises), and a text-only guidance gets None."""
    torch.manual_seed(0)
    unet = build_prior_unet(resolution=32, text_dim=32, block_out_channels=(16, 32), attention_head_dim=8,
                            text_pool_heads=2, camera=True)
    folder = save_prior(unet, build_prior_scheduler(), tmp_path / "camera_prior", "# card\n", DREAMFUSION4)
    trainer = build_trainer(tiny_config(tmp_path / "run", f"guidance.path={folder}", "render.views_per_prompt=2",
                                        "trainer.max_steps=2"), tmp_path / "run")
    system = trainer.system
    seen = {}
    render, guidance_forward = system.render, system.guidance.forward

    def recording_render(triplanes, views, phase):
        seen["cameras"] = views.cameras
        return render(triplanes, views, phase)

    def recording_guidance(*args, **kwargs):
        seen["camera_features"] = kwargs.get("camera_features")
        return guidance_forward(*args, **kwargs)

    system.render, system.guidance.forward = recording_render, recording_guidance
    trainer.train_step()
    cameras = seen["cameras"]
    assert len(cameras) == 4  # 2 prompts x 2 views
    torch.testing.assert_close(seen["camera_features"], camera_features(cameras.azimuth, cameras.elevation))
    assert system.guidance_cameras(cameras) is not None

    plain = build_trainer(tiny_config(tmp_path / "plain", "trainer.max_steps=2"), tmp_path / "plain").system
    assert plain.guidance.camera_feature_dim is None and plain.guidance_cameras(cameras) is None
