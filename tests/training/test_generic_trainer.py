"""The Trainer runs any TrainingSystem: a two-phase linear regression with its own batches, extra state and a
callback trains, freezes per phase, resumes bit for bit, and never needs AToM's parts."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import Tensor, nn

from atom.config import LoggerConfig, LoggerKind, OptimConfig, TrainConfig, TrainerConfig
from atom.model import list_checkpoints
from atom.training.callbacks import Callback, CallbackContext
from atom.training.system import StepOutput, TrainingSystem
from atom.training.trainer import Trainer

TRUE_WEIGHT, TRUE_BIAS = torch.tensor([2.0, -3.0]), 1.0
PHASE_CHANGE = 20


class Line(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(2))
        self.bias = nn.Parameter(torch.zeros(1))

    def save_pretrained(self, directory: Path) -> None:
        state = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(directory / "model.safetensors"))
        (directory / "config.json").write_text("{}")


class Recorder(Callback):
    def __init__(self) -> None:
        self.steps: list[int] = []
        self.ended = False

    def on_step_end(self, context: CallbackContext) -> None:
        self.steps.append(context.step)

    def on_train_end(self, context: CallbackContext) -> dict:
        self.ended = True
        return {"recorded": len(self.steps)}


class Regression(TrainingSystem):
    """Phase 1 fits the weight only, phase 2 weight and bias; a step counter is its extra state."""

    def __init__(self) -> None:
        super().__init__()
        self.line = Line()
        self.seen = torch.zeros(1)
        self.recorder = Recorder()

    def phase(self, step: int) -> int:
        return 1 if step < PHASE_CHANGE else 2

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"front_end": [self.line.weight], "sdf": [self.line.bias]}

    def trainable_groups(self, phase: int) -> set[str]:
        return {"front_end"} if phase == 1 else {"front_end", "sdf"}

    def sample_batch(self, step: int, generator: torch.Generator) -> Tensor:
        return torch.randn(16, 2, generator=generator)

    def forward(self, x: Tensor) -> StepOutput:
        self.seen += 1
        target = x @ TRUE_WEIGHT + TRUE_BIAS
        loss = ((x @ self.line.weight + self.line.bias - target) ** 2).mean()
        return StepOutput(loss, {"loss/mse": float(loss.detach())}, {"batches": 1})

    def pretrained_model(self) -> nn.Module:
        return self.line

    def extra_state(self) -> dict[str, Tensor]:
        return {"seen": self.seen}

    def load_extra_state(self, state: dict[str, Tensor]) -> None:
        self.seen.copy_(state["seen"])

    def callbacks(self) -> list[Callback]:
        return [self.recorder]


def _trainer(run_dir: Path, steps: int) -> Trainer:
    system = Regression()
    trainer_cfg = TrainerConfig(max_steps=steps, device="cpu", log_every=1, checkpoint_every=100, progress=False)
    optim = OptimConfig(lr_front_end=0.1, lr_sdf=0.1, warmup_steps=1, min_lr_ratio=1.0)
    return Trainer(system, run_dir, trainer_cfg, optim, LoggerConfig(kind=LoggerKind.jsonl), TrainConfig(), seed=0,
                   device=torch.device("cpu"))


def test_any_system_trains_per_phase_and_resumes(tmp_path):
    trainer = _trainer(tmp_path / "a", 150)
    bias_trace = []
    original = trainer.train_step

    def step_and_watch():
        result = original()
        bias_trace.append(float(trainer.system.line.bias.detach()))
        return result

    trainer.train_step = step_and_watch
    summary = trainer.fit()
    line = trainer.system.line
    assert bias_trace[PHASE_CHANGE - 1] == 0.0 and bias_trace[-1] != 0.0, "the bias trains in phase 2 only"
    torch.testing.assert_close(line.weight.detach(), TRUE_WEIGHT, atol=0.05, rtol=0)
    assert abs(float(line.bias.detach()) - TRUE_BIAS) < 0.1
    assert summary["batches"] == 150 and summary["recorded"] == 150 and trainer.system.recorder.ended
    records = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["loss/mse"] < 1e-2 < records[0]["loss/mse"]

    first = _trainer(tmp_path / "b", 150)  # killed after 30 steps, resumed from its checkpoint
    for _ in range(30):
        first.train_step()
        first.step += 1
    first.save()
    resumed = _trainer(tmp_path / "b", 150)
    assert resumed.step == 30 and float(resumed.system.seen) == 30.0
    resumed.fit()
    torch.testing.assert_close(resumed.system.line.weight, line.weight, rtol=0, atol=0)
    torch.testing.assert_close(resumed.system.line.bias, line.bias, rtol=0, atol=0)
    assert list_checkpoints(tmp_path / "b")[-1].name == "step_0000150"
