"""Checkpoints: the authors' pose and correspondence formats, the ImageNet key rule, our own format."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.serialization

from conftest import shared_path
from corrtrack.errors import CorrtrackError
from corrtrack.models.checkpoints import (
    CheckpointError,
    authors_correspondence_state_dict,
    authors_pose_state_dict,
    checkpoint_metadata,
    imagenet_sources,
    imagenet_units,
    init_from_imagenet,
    load_authors_correspondence_net,
    load_authors_embedding,
    load_authors_pose_net,
    load_checkpoint,
    load_imagenet_state_dict,
    model_from_checkpoint,
    read_torch_file,
    save_checkpoint,
)
from corrtrack.models.correspondence_net import (
    CorrespondenceNet,
    CorrespondenceNetConfig,
    SiameseEmbedding,
    correspondence_config,
)
from corrtrack.models.pose_net import PoseNet, pose_config
from reference_weights import fill_layout, load_layout

torch.set_num_threads(1)

TINY_POSE = pose_config("tiny")
TINY_CORR = dataclasses.replace(correspondence_config("tiny"), input_size=64, normalization="squared")


@contextlib.contextmanager
def saved_as_cuda() -> Iterator[None]:
    """Make ``torch.save`` record every storage as ``cuda:0``, as a file saved on a GPU machine."""
    entry = (-1000, lambda obj: "cuda:0", lambda obj, location: None)
    torch.serialization._package_registry.insert(0, entry)
    try:
        yield
    finally:
        torch.serialization._package_registry.remove(entry)


def save_authors(path: Path, state: dict[str, torch.Tensor], cuda: bool = False, **extra: Any) -> Path:
    with saved_as_cuda() if cuda else contextlib.nullcontext():
        torch.save({"state_dict": state, "epoch": 3, **extra}, path)
    return path


@functools.cache
def tiny_pose_state() -> dict[str, torch.Tensor]:
    return filled(PoseNet(TINY_POSE))


def filled(model: torch.nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        k: (torch.randn(v.shape, generator=gen) if v.is_floating_point() else torch.zeros_like(v))
        for k, v in model.state_dict().items()
    }


# ------------------------------------------------------------------------------- authors' pose


def test_cuda_saved_file_loads_on_cpu(tmp_path: Path) -> None:
    path = save_authors(tmp_path / "cuda.pth", {"w": torch.ones(2)}, cuda=True)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=True)  # what the reference's plain torch.load does here
    obj = read_torch_file(path)
    assert obj["state_dict"]["w"].device.type == "cpu"


@pytest.mark.parametrize("prefix", ["", "module."])
def test_authors_pose_checkpoint_tiny(tmp_path: Path, prefix: str) -> None:
    state = tiny_pose_state()
    path = save_authors(tmp_path / "pose.pth", {prefix + k: v for k, v in state.items()}, cuda=True)
    net = load_authors_pose_net(path, TINY_POSE)
    assert not net.training
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_released_pose_layout_loads_strictly(tmp_path: Path) -> None:
    """A file shaped like the released 3-stage checkpoint (DataParallel keys, CUDA tensors) loads into paper3."""
    layout = load_layout(shared_path("reference", "layouts", "pose_net_3stage.json"))
    weights = fill_layout(layout, prefix="module.")
    path = save_authors(tmp_path / "pose_estimation_model_3_stage_lr_1e-5_wo_vis.pth", weights, cuda=True)
    net = load_authors_pose_net(path)
    assert net.cfg.num_stages == 3 and net.cfg.readout_stage == 1
    assert torch.equal(net.pd3.Conv2dT_2.conv.weight, weights["module.pd3.Conv2dT_2.conv.weight"])
    assert all(torch.equal(v, weights["module." + k]) for k, v in net.state_dict().items())


def test_pose_checkpoint_errors_name_file_and_keys(tmp_path: Path) -> None:
    state = tiny_pose_state()
    missing = dict(state)
    del missing["pd2.inception_4d_3x3.weight"]
    path = save_authors(tmp_path / "missing.pth", missing)
    with pytest.raises(CheckpointError) as err:
        load_authors_pose_net(path, TINY_POSE)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and "1 missing keys (pd2.inception_4d_3x3.weight)" in msg
    extra = save_authors(tmp_path / "extra.pth", {**state, "pd3.foo.weight": torch.zeros(1)})
    with pytest.raises(CheckpointError, match=r"1 unexpected keys \(pd3.foo.weight\)"):
        load_authors_pose_net(extra, TINY_POSE)
    with pytest.raises(CheckpointError, match="shape mismatches"):
        load_authors_pose_net(save_authors(tmp_path / "p.pth", state), dataclasses.replace(TINY_POSE, width=0.25))
    mixed = {"module.x": torch.zeros(1), **{k: v for k, v in state.items()}}
    with pytest.raises(CheckpointError, match="mixes keys"):
        authors_pose_state_dict(mixed, "f.pth")
    torch.save({"model": state}, tmp_path / "nostate.pth")
    with pytest.raises(CheckpointError, match="'state_dict' entry"):
        load_authors_pose_net(tmp_path / "nostate.pth", TINY_POSE)
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable torch file"):
        load_authors_pose_net(tmp_path / "garbage.pth", TINY_POSE)
    with pytest.raises(CheckpointError, match="file not found"):
        load_authors_pose_net(tmp_path / "absent.pth", TINY_POSE)
    assert issubclass(CheckpointError, CorrtrackError)


def test_missing_counters_are_tolerated(tmp_path: Path) -> None:
    state = {k: v for k, v in tiny_pose_state().items() if not k.endswith("num_batches_tracked")}
    net = load_authors_pose_net(save_authors(tmp_path / "old.pth", state), TINY_POSE)
    assert int(net.conv1_7x7_s2_bn.num_batches_tracked) == 0


class _Opaque:
    """A pickled object that weights_only loading refuses."""


def test_untrusted_pickle_needs_trusted(tmp_path: Path) -> None:
    path = tmp_path / "pickled.pth"
    torch.save({"state_dict": tiny_pose_state(), "args": _Opaque()}, path)
    with pytest.raises(CheckpointError, match="trusted=True"):
        load_authors_pose_net(path, TINY_POSE)
    assert load_authors_pose_net(path, TINY_POSE, trusted=True).cfg == TINY_POSE


# --------------------------------------------------------------------- authors' correspondence


def test_correspondence_key_rewrite_gives_the_layout() -> None:
    layout = load_layout(shared_path("reference", "layouts", "siamese_refinement.json"))
    keys = [e["key"] for e in layout["state_dict"]]
    saved_forms = [
        "module." + k.replace("model.model.", "model.module.model.", 1) if k.startswith("model.") else "module." + k
        for k in keys
    ]
    assert list(authors_correspondence_state_dict(dict.fromkeys(saved_forms, torch.zeros(1)))) == keys
    plain = ["module." + k for k in keys]
    assert list(authors_correspondence_state_dict(dict.fromkeys(plain, torch.zeros(1)))) == keys


def saved_key(key: str, form: str) -> str:
    """How a training run may have saved ``key`` (a layout key of the full correspondence model)."""
    if form == "nested":  # DataParallel around the model and around its embedding
        return "module.model.module." + key[len("model.") :] if key.startswith("model.") else "module." + key
    return "module." + key if form == "dataparallel" else key


@pytest.mark.parametrize("form", ["nested", "dataparallel", "bare"])
def test_authors_correspondence_checkpoint(tmp_path: Path, form: str) -> None:
    state = filled(CorrespondenceNet(TINY_CORR))
    saved = {saved_key(k, form): v for k, v in state.items()}
    path = save_authors(tmp_path / "corrtrack_model.pth", saved, cuda=True)
    net = load_authors_correspondence_net(path, TINY_CORR)
    assert not net.training and net.cfg.normalization == "squared"
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k]), k
    with pytest.raises(CheckpointError, match="normalization='squared'"):
        load_authors_correspondence_net(path, dataclasses.replace(TINY_CORR, normalization="l2"))
    del saved[next(k for k in saved if k.endswith("pd.Conv2dT_2.conv.weight"))]
    torch.save({"state_dict": saved}, tmp_path / "partial.pth")
    with pytest.raises(CheckpointError, match=r"missing keys \(pd.Conv2dT_2.conv.weight\)"):
        load_authors_correspondence_net(tmp_path / "partial.pth", TINY_CORR)


def test_authors_embedding_checkpoint(tmp_path: Path) -> None:
    state = filled(SiameseEmbedding(TINY_CORR))
    path = save_authors(tmp_path / "emb.pth", {"module." + k: v for k, v in state.items()})
    net = load_authors_embedding(path, TINY_CORR)
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())


# ------------------------------------------------------------------------------------ ImageNet


@pytest.fixture(scope="module")
def imagenet() -> dict[str, torch.Tensor]:
    layout = load_layout(shared_path("reference", "layouts", "imagenet_bninception.json"))
    return fill_layout(layout, unfillable="zeros")


@pytest.fixture(scope="module")
def init_mapping() -> dict[str, Any]:
    return json.loads(shared_path("reference", "layouts", "imagenet_init_mapping.json").read_text())["models"]


@pytest.mark.parametrize(
    "name",
    ["pose_net_2stage", "pose_net_3stage", "siamese_embedding", "siamese_refinement"],
)
def test_imagenet_rule_matches_the_authors_mapping(
    name: str, imagenet: dict[str, torch.Tensor], init_mapping: dict[str, Any]
) -> None:
    with torch.device("meta"):  # keys only: no memory, no init time
        model = {
            "pose_net_2stage": lambda: PoseNet(pose_config("paper")),
            "pose_net_3stage": lambda: PoseNet(pose_config("paper3")),
            "siamese_embedding": lambda: SiameseEmbedding(),
            "siamese_refinement": lambda: CorrespondenceNet(),
        }[name]()
    mapping: dict[str, str] = {}
    for prefix, unit in imagenet_units(model):
        mapping.update({prefix + k: v for k, v in imagenet_sources(unit.state_dict(), imagenet).items()})
    want = init_mapping[name]
    assert mapping == want["filled_from_imagenet"]
    assert len(mapping) == want["num_filled"]
    assert sorted(set(model.state_dict()) - set(mapping)) == sorted(want["not_filled_keep_pytorch_default_init"])


def test_imagenet_init_copies_values(tmp_path: Path, imagenet: dict[str, torch.Tensor]) -> None:
    torch.save(imagenet, tmp_path / "bn_inception-52deb4733.pth")
    loaded = load_imagenet_state_dict(tmp_path / "bn_inception-52deb4733.pth")
    net = CorrespondenceNet(CorrespondenceNetConfig(normalization="squared"))
    before = {k: v.clone() for k, v in net.state_dict().items() if "inception_31" in k or "Conv2dT" in k}
    mapping = init_from_imagenet(net, loaded)
    state = net.state_dict()
    assert len(mapping) == 847
    for k, src in mapping.items():
        assert torch.equal(state[k], imagenet[src]), k
    assert all(torch.equal(state[k], v) for k, v in before.items())  # renamed 3a block and heads untouched
    with pytest.raises(CheckpointError, match="do not fit"):
        init_from_imagenet(PoseNet(TINY_POSE), loaded)


# ---------------------------------------------------------------------------------- our format


def test_own_checkpoint_roundtrip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = PoseNet(TINY_POSE).eval()
    meta = checkpoint_metadata(
        TINY_POSE, joint_layout="posetrack18", training_data="SynthTrack train", command="corrtrack train-pose"
    )
    x = torch.rand(1, 3, TINY_POSE.input_height, TINY_POSE.input_width)
    with torch.no_grad():
        want = net(x)[1]
    sha = save_checkpoint(tmp_path / "pose.pt", net, meta)
    state, got_meta = load_checkpoint(tmp_path / "pose.pt")
    assert got_meta["sha256"] == sha and got_meta["config_name"] == "tiny" and got_meta["dtype"] == "float32"
    assert got_meta["input_size"] == [96, 128] and got_meta["joint_layout"] == "posetrack18"
    assert got_meta["config"]["num_stages"] == 2 and got_meta["command"] == "corrtrack train-pose"
    assert list(state) == list(net.state_dict())
    rebuilt = model_from_checkpoint(tmp_path / "pose.pt")
    assert isinstance(rebuilt, PoseNet) and rebuilt.cfg == TINY_POSE and not rebuilt.training
    with torch.no_grad():
        assert torch.equal(rebuilt(x)[1], want)

    save_checkpoint(tmp_path / "pose16.pt", net, meta, half=True)
    size32, size16 = (tmp_path / "pose.pt").stat().st_size, (tmp_path / "pose16.pt").stat().st_size
    assert size16 < 0.55 * size32 and size16 < 10_000_000
    state16, meta16 = load_checkpoint(tmp_path / "pose16.pt")
    assert meta16["dtype"] == "float16" and state16["conv1_7x7_s2.weight"].dtype == torch.float16
    half = model_from_checkpoint(tmp_path / "pose16.pt")
    assert half.conv1_7x7_s2.weight.dtype == torch.float32
    with torch.no_grad():
        torch.testing.assert_close(half(x)[1], want, rtol=0.05, atol=0.05 * float(want.abs().max()))


def test_own_checkpoint_correspondence_and_errors(tmp_path: Path) -> None:
    net = CorrespondenceNet(TINY_CORR)
    meta = checkpoint_metadata(TINY_CORR, joint_layout="coco", training_data="synthetic pairs", command="x")
    assert meta["normalization"] == "squared" and meta["input_size"] == [64, 64]
    save_checkpoint(tmp_path / "corr.pt", net, meta)
    rebuilt = model_from_checkpoint(tmp_path / "corr.pt")
    assert isinstance(rebuilt, CorrespondenceNet) and rebuilt.cfg == TINY_CORR
    save_checkpoint(tmp_path / "emb.pt", net.model, meta)
    assert isinstance(model_from_checkpoint(tmp_path / "emb.pt"), SiameseEmbedding)

    with pytest.raises(ValueError, match="lacks joint_layout"):
        save_checkpoint(tmp_path / "bad.pt", net, {"training_data": "x", "command": "y"})
    assert not (tmp_path / "bad.pt").exists()
    obj = torch.load(tmp_path / "corr.pt", weights_only=True)
    obj["state_dict"]["pd.Conv2dT_2.conv.bias"] += 1
    torch.save(obj, tmp_path / "tampered.pt")
    with pytest.raises(CheckpointError, match="sha256 mismatch"):
        load_checkpoint(tmp_path / "tampered.pt")
    save_authors(tmp_path / "authors.pth", net.state_dict())
    with pytest.raises(CheckpointError, match="load_authors_pose_net"):
        load_checkpoint(tmp_path / "authors.pth")
