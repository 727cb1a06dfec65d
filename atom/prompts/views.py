"""View-dependent prompts (DreamFusion): "a red cube, front view", and their embeddings per prompt and view.

Score distillation renders an object from some camera and asks the diffusion model about the prompt
with a suffix naming that view, which keeps the model from painting a face on every side. All suffixed
prompts are encoded once (`ViewDependentEmbeddings.build`), saved, and looked up by index during
training, so the training process never holds the text encoder.

View schemes. A `ViewScheme` is the one function from a camera (azimuth, elevation; degrees, the
convention of `atom.render.cameras`: azimuth 0 on +X sees the front, +90 on +Y) to its view label. It is
used by the toy prior's training captions (`atom.toyworld.renders`), its check (`atom.toyworld.prior_check`)
and the trainer's view-dependent prompts, so the three cannot drift apart:

- ``dreamfusion4`` (DeepFloyd IF, Stable Diffusion): "overhead" above elevation 60; otherwise "front" for
  |az| < 45, "back" for |az| > 135, "side" between (DreamFusion's and threestudio's thresholds).
- ``sectors8`` (the toy prior): "overhead" above elevation 60; otherwise eight 45-degree sectors centred
  on az = 45 k: front (0), front-right (45), right (90), back-right (135), back (180), back-left (-135),
  left (-90), front-left (-45). Each sector is half-open, [centre - 22.5, centre + 22.5). "Right" is the
  viewer's right: the camera at +90 sits on +Y, which the front camera sees on the right of its image
  (its image-right axis is (-sin az, cos az, 0)). Sectors narrower than the 90-degree symmetry period of
  a cube tie the object's yaw to the caption: the front view sees a face, the front-right view a corner;
  with DreamFusion's 90-degree sectors a 4-fold symmetric shape's caption says nothing about its yaw, and
  score distillation cannot tell a cube from a solid of revolution (bench/RESULTS.md, issue 13).

The scheme is a property of a diffusion model: the toy prior stores its own in ``view_scheme.json`` in its
folder (`save_view_scheme`), and `resolve_view_scheme` refuses a configured scheme that differs from it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from atom.text.cache import EmbeddingCache
from atom.text.encoder import TextEmbeddings, TextEncoder, validate_prompts

TENSORS_FILE = "embeddings.safetensors"
INDEX_FILE = "prompts.json"
VIEW_SCHEME_FILE = "view_scheme.json"
OVERHEAD_ELEVATION = 60.0
"""Degrees: a camera above this elevation is "overhead" in every scheme."""


@dataclass(frozen=True)
class ViewScheme:
    """Names a camera's view from its azimuth and elevation.

    name: the scheme's identifier (a key of `VIEW_SCHEMES`). azimuth_labels: the K sectors' names in order
    of increasing azimuth (counterclockwise seen from above); a name may repeat ("side"). sector_edges:
    K + 1 increasing azimuths in degrees spanning exactly 360; sector k is the half-open interval
    [edges[k], edges[k + 1]) after wrapping the azimuth into [edges[0], edges[0] + 360).
    overhead_elevation: above it (degrees, strictly) every camera is "overhead".
    """

    name: str
    azimuth_labels: tuple[str, ...]
    sector_edges: tuple[float, ...]
    overhead_elevation: float = OVERHEAD_ELEVATION

    def __post_init__(self) -> None:
        edges = self.sector_edges
        if len(edges) != len(self.azimuth_labels) + 1 or any(b <= a for a, b in zip(edges, edges[1:])):
            raise ValueError(f"sector_edges must be {len(self.azimuth_labels) + 1} increasing azimuths, got {edges}")
        if not math.isclose(edges[-1] - edges[0], 360.0):
            raise ValueError(f"sector_edges must span 360 degrees, got {edges[0]}..{edges[-1]}")

    @property
    def labels(self) -> tuple[str, ...]:
        """Every label the scheme can give, azimuth labels (distinct, in sector order) then "overhead"."""
        return tuple(dict.fromkeys(self.azimuth_labels)) + ("overhead",)

    def label(self, azimuth: float, elevation: float) -> str:
        """The view label of one camera (degrees; any azimuth, wrapped to the sectors)."""
        if elevation > self.overhead_elevation:
            return "overhead"
        start = self.sector_edges[0]
        offset = (float(azimuth) - start) % 360.0  # in [0, 360)
        for index, edge in enumerate(self.sector_edges[1:]):
            if offset < edge - start:
                return self.azimuth_labels[index]
        return self.azimuth_labels[-1]  # offset rounded up to 360.0: a hair below the first edge

    def view_labels(self, azimuth: torch.Tensor | Sequence[float],
                    elevation: torch.Tensor | Sequence[float]) -> list[str]:
        """Labels of B cameras: ``azimuth`` [B] and ``elevation`` [B] in degrees (e.g. `Cameras` fields)."""
        azimuth, elevation = (torch.as_tensor(v).detach().cpu().double().reshape(-1).tolist()
                              for v in (azimuth, elevation))
        if len(azimuth) != len(elevation):
            raise ValueError(f"azimuth and elevation must both be [B], got {len(azimuth)} and {len(elevation)}")
        return [self.label(a, e) for a, e in zip(azimuth, elevation)]

    def sector_azimuths(self, label: str, step: float) -> list[float]:
        """Azimuths in (-180, 180], ``step`` degrees apart from 180, inside or on the edge of the sectors
        named ``label`` (closed sectors: both edges included), sorted."""
        if label not in self.azimuth_labels:
            raise ValueError(f"label must be one of {tuple(dict.fromkeys(self.azimuth_labels))}, got {label!r}")
        grid = [180.0 - step * i for i in range(round(360.0 / step))]
        return sorted(a for a in grid if label in (self.label(a - 1e-6, 0.0), self.label(a + 1e-6, 0.0)))


def _sectors(names: Sequence[str], width: float) -> tuple[float, ...]:
    """Edges of len(names) sectors of ``width`` degrees, the first centred on azimuth 0."""
    return tuple(-width / 2.0 + width * i for i in range(len(names) + 1))


DREAMFUSION4 = ViewScheme(
    name="dreamfusion4",
    # |az| < 45 front, |az| > 135 back, side between; exactly at -45 and +135 the half-open sectors say
    # front and back where threestudio's strict thresholds say side (a set of measure zero)
    azimuth_labels=("front", "side", "back", "side"),
    sector_edges=(-45.0, 45.0, 135.0, 225.0, 315.0),
)
SECTORS8 = ViewScheme(
    name="sectors8",
    azimuth_labels=("front", "front-right", "right", "back-right", "back", "back-left", "left", "front-left"),
    sector_edges=_sectors(range(8), 45.0),
)
VIEW_SCHEMES: dict[str, ViewScheme] = {scheme.name: scheme for scheme in (DREAMFUSION4, SECTORS8)}
VIEWS: tuple[str, ...] = tuple(dict.fromkeys(view for scheme in VIEW_SCHEMES.values() for view in scheme.labels))
"""Every view label of every scheme (what `view_prompt` accepts)."""


def get_view_scheme(name: str) -> ViewScheme:
    """The scheme called ``name`` (a key of `VIEW_SCHEMES`)."""
    if name not in VIEW_SCHEMES:
        raise ValueError(f"view scheme must be one of {tuple(VIEW_SCHEMES)}, got {name!r}")
    return VIEW_SCHEMES[name]


def save_view_scheme(directory: str | Path, scheme: ViewScheme) -> Path:
    """Write ``view_scheme.json`` (name, labels, sector edges) into a model folder; returns its path."""
    path = Path(directory) / VIEW_SCHEME_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"name": scheme.name, "azimuth_labels": list(scheme.azimuth_labels),
              "sector_edges": list(scheme.sector_edges), "overhead_elevation": scheme.overhead_elevation}
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def read_view_scheme(directory: str | Path) -> ViewScheme | None:
    """The scheme a model folder was trained with (its ``view_scheme.json``); None when it has none (a hub id,
    DeepFloyd IF, Stable Diffusion). A file whose contents differ from the named scheme is refused."""
    path = Path(directory).expanduser() / VIEW_SCHEME_FILE
    if not path.is_file():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    scheme = get_view_scheme(record.get("name"))
    stored = ViewScheme(record["name"], tuple(record["azimuth_labels"]), tuple(record["sector_edges"]),
                        record["overhead_elevation"])
    if stored != scheme:
        raise ValueError(f"{path} describes view scheme {record['name']!r} as {stored}, but this code defines "
                         f"it as {scheme}")
    return scheme


def resolve_view_scheme(configured: str, model_path: str | Path) -> ViewScheme:
    """The view scheme to caption renders for the diffusion model at ``model_path`` with.

    ``configured`` (e.g. ``guidance.view_scheme``) must equal the scheme the model folder records, if it
    records one: a model trained on other view captions would be asked about views it never saw.
    """
    scheme = get_view_scheme(configured)
    stored = read_view_scheme(model_path)
    if stored is not None and stored != scheme:
        raise ValueError(f"view scheme {configured!r} is configured, but the diffusion model at {model_path} was "
                         f"trained with view scheme {stored.name!r} ({Path(model_path) / VIEW_SCHEME_FILE}): "
                         f"set guidance.view_scheme={stored.name}")
    return scheme


def view_prompt(prompt: str, view: str) -> str:
    """`prompt` with a view suffix, e.g. ("a red cube", "front-right") -> "a red cube, front-right view"."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    return f"{prompt}, {view} view"


@dataclass
class ViewDependentEmbeddings:
    """Embeddings of every prompt under every view suffix, plus the unconditional (negative) prompt.

    prompts: the P base prompts (without suffix). tokens: [P, V, L, D] with V = len(scheme.labels), in that
    order.
    mask: [P, V, L] bool. pooled: [P, V, D] or None. uncond: TextEmbeddings [1, L, D] of `negative_prompt`.
    identity: the text encoder's identity, so a consumer can check it matches its own expectations.
    """

    prompts: list[str]
    tokens: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor | None
    uncond: TextEmbeddings
    identity: str
    negative_prompt: str = ""
    scheme: ViewScheme = DREAMFUSION4

    def __post_init__(self) -> None:
        shape = (len(self.prompts), len(self.scheme.labels))
        if self.tokens.dim() != 4 or self.tokens.shape[:2] != shape:
            raise ValueError(
                f"tokens must be [P, V, L, D] with P, V = {shape}, got {list(self.tokens.shape)}"
            )
        if self.mask.shape != self.tokens.shape[:3]:
            raise ValueError(
                f"mask must be [P, V, L] = {list(self.tokens.shape[:3])}, got {list(self.mask.shape)}"
            )
        if self.pooled is not None and self.pooled.shape != (*shape, self.tokens.shape[3]):
            raise ValueError(f"pooled must be [P, V, D], got {list(self.pooled.shape)}")
        if len(self.uncond) != 1 or self.uncond.tokens.shape[1:] != self.tokens.shape[2:]:
            raise ValueError(
                f"uncond must be [1, L, D] with L, D = {tuple(self.tokens.shape[2:])}, "
                f"got {list(self.uncond.tokens.shape)}"
            )

    def __len__(self) -> int:
        return len(self.prompts)

    @property
    def length(self) -> int:
        """L, the padded sequence length."""
        return self.tokens.shape[2]

    @property
    def dim(self) -> int:
        """D, the embedding width."""
        return self.tokens.shape[3]

    @classmethod
    def build(
        cls,
        encoder: TextEncoder,
        prompts: Sequence[str],
        cache: EmbeddingCache | None = None,
        negative_prompt: str = "",
        batch_size: int = 64,
        scheme: ViewScheme = DREAMFUSION4,
    ) -> ViewDependentEmbeddings:
        """Encode each of `prompts` with each view suffix of `scheme`, and `negative_prompt`, through `cache` if
        given."""
        prompts = validate_prompts(prompts)
        suffixed = [view_prompt(prompt, view) for prompt in prompts for view in scheme.labels]
        if cache is None:
            cond = encoder.encode(suffixed, batch_size=batch_size)
            uncond = encoder.encode([negative_prompt], allow_empty=True)
        else:
            cond = cache.get_or_encode(encoder, suffixed, batch_size=batch_size)
            uncond = cache.get_or_encode(encoder, [negative_prompt], allow_empty=True)
        return cls._from_flat(prompts, cond, uncond, encoder.identity, negative_prompt, scheme)

    @classmethod
    def from_cache(
        cls, cache: EmbeddingCache, identity: str, prompts: Sequence[str], negative_prompt: str = "",
        scheme: ViewScheme = DREAMFUSION4,
    ) -> ViewDependentEmbeddings:
        """The same as `build`, read from a cache that `build` filled, without loading the encoder."""
        prompts = validate_prompts(prompts)
        cond = cache.load(identity, [view_prompt(prompt, view) for prompt in prompts for view in scheme.labels])
        uncond = cache.load(identity, [negative_prompt])
        return cls._from_flat(prompts, cond, uncond, identity, negative_prompt, scheme)

    @classmethod
    def _from_flat(
        cls,
        prompts: list[str],
        cond: TextEmbeddings,
        uncond: TextEmbeddings,
        identity: str,
        negative_prompt: str,
        scheme: ViewScheme,
    ) -> ViewDependentEmbeddings:
        """Fold prompt-major [P * V, L, D] embeddings into [P, V, L, D]."""
        shape = (len(prompts), len(scheme.labels))
        return cls(
            prompts=prompts,
            tokens=cond.tokens.reshape(*shape, *cond.tokens.shape[1:]),
            mask=cond.mask.reshape(*shape, -1),
            pooled=None if cond.pooled is None else cond.pooled.reshape(*shape, -1),
            uncond=uncond,
            identity=identity,
            negative_prompt=negative_prompt,
            scheme=scheme,
        )

    def lookup(
        self, prompt_indices: torch.Tensor, views: Sequence[str]
    ) -> tuple[TextEmbeddings, TextEmbeddings]:
        """Conditional embeddings [B, L, D] of prompt `prompt_indices[b]` seen from `views[b]`, and the
        unconditional embedding expanded to [B, L, D] (a view, no copy)."""
        prompt_indices = torch.as_tensor(prompt_indices, dtype=torch.long)
        if prompt_indices.dim() != 1 or len(prompt_indices) != len(views):
            raise ValueError(
                f"prompt_indices must be [B] with B = len(views) = {len(views)}, "
                f"got {list(prompt_indices.shape)}"
            )
        unknown = [view for view in views if view not in self.scheme.labels]
        if unknown:
            raise ValueError(f"views must be in {self.scheme.labels} (view scheme {self.scheme.name!r}), "
                             f"got {unknown}")
        if len(prompt_indices) and not 0 <= int(prompt_indices.min()) <= int(prompt_indices.max()) < len(
            self
        ):
            raise ValueError(f"prompt_indices must be in [0, {len(self)}), got {prompt_indices.tolist()}")
        device = self.tokens.device
        rows = prompt_indices.to(device)
        columns = torch.tensor([self.scheme.labels.index(view) for view in views], dtype=torch.long,
                               device=device)
        cond = TextEmbeddings(
            tokens=self.tokens[rows, columns],
            mask=self.mask[rows, columns],
            pooled=None if self.pooled is None else self.pooled[rows, columns],
        )
        batch = len(views)
        uncond = TextEmbeddings(
            tokens=self.uncond.tokens.expand(batch, -1, -1),
            mask=self.uncond.mask.expand(batch, -1),
            pooled=None if self.uncond.pooled is None else self.uncond.pooled.expand(batch, -1),
        )
        return cond, uncond

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> ViewDependentEmbeddings:
        """A copy on `device`; `dtype` (if given) converts the float tensors, never the masks."""
        return ViewDependentEmbeddings(
            prompts=self.prompts,
            tokens=self.tokens.to(device=device, dtype=dtype),
            mask=self.mask.to(device=device),
            pooled=None if self.pooled is None else self.pooled.to(device=device, dtype=dtype),
            uncond=self.uncond.to(device=device, dtype=dtype),
            identity=self.identity,
            negative_prompt=self.negative_prompt,
            scheme=self.scheme,
        )

    def save(self, path: str | Path) -> Path:
        """Write folder `path`: tensors in embeddings.safetensors, prompts and settings in prompts.json."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        tensors = {
            "tokens": self.tokens,
            "mask": self.mask,
            "uncond_tokens": self.uncond.tokens,
            "uncond_mask": self.uncond.mask,
        }
        if self.pooled is not None:
            tensors["pooled"] = self.pooled
        if self.uncond.pooled is not None:
            tensors["uncond_pooled"] = self.uncond.pooled
        save_file(
            {name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()},
            path / TENSORS_FILE,
        )
        index = {
            "prompts": self.prompts,
            "view_scheme": self.scheme.name,
            "views": list(self.scheme.labels),
            "negative_prompt": self.negative_prompt,
            "identity": self.identity,
        }
        (path / INDEX_FILE).write_text(
            json.dumps(index, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        return path

    @classmethod
    def load(cls, path: str | Path, device: torch.device | str = "cpu") -> ViewDependentEmbeddings:
        """Read a folder written by `save`, onto `device`."""
        path = Path(path)
        for name in (TENSORS_FILE, INDEX_FILE):
            if not (path / name).is_file():
                raise FileNotFoundError(
                    f"view-dependent embeddings: {path / name} not found (written by save)"
                )
        index = json.loads((path / INDEX_FILE).read_text(encoding="utf-8"))
        scheme = get_view_scheme(index.get("view_scheme", DREAMFUSION4.name))
        if tuple(index["views"]) != scheme.labels:
            raise ValueError(f"{path} was saved with views {index['views']}, view scheme {scheme.name!r} has "
                             f"{scheme.labels}")
        tensors = load_file(path / TENSORS_FILE, device=str(device))
        return cls(
            prompts=index["prompts"],
            tokens=tensors["tokens"],
            mask=tensors["mask"],
            pooled=tensors.get("pooled"),
            uncond=TextEmbeddings(
                tokens=tensors["uncond_tokens"],
                mask=tensors["uncond_mask"],
                pooled=tensors.get("uncond_pooled"),
            ),
            identity=index["identity"],
            negative_prompt=index["negative_prompt"],
            scheme=scheme,
        )
