"""Vessel probability maps from a trained checkpoint, for data-set images and one's own photographs.

    >>> model, config = load_checkpoint("runs/cpu/drive-afunet-s0/best.pt")
    >>> prob = predict_probability(model, image, config)          # (H, W) float32 in [0, 1]

Each image gets its run's training preprocessing (resize if trained with ``input_size``, green /
CLAHE, z-score inside the FOV); probabilities are resized back to the image's own size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from afunet.config import TrainConfig
from afunet.data.fov import compute_fov
from afunet.data.io import read_image
from afunet.data.transforms import normalize, prepare, resize
from afunet.device import autocast, resolve_channels_last, resolve_device, resolve_precision
from afunet.errors import AfunetError, CheckpointError, ensure_folder
from afunet.models import create_model
from afunet.training.checkpoint import check_finite, load_checkpoint_dict, resolve_checkpoint

OVERLAY_COLOUR = (0, 255, 64)  # vessels drawn in green over the photograph
OVERLAY_ALPHA = 0.6


def load_checkpoint(path: str | Path, device: str | torch.device = "auto"):
    """(model in eval mode, TrainConfig) from a checkpoint file or run folder.

    Weights only, nothing is unpickled; raises CheckpointError on a missing, corrupt or unsafe file.
    """
    model, config, _ = load_with_metadata(path, device)
    return model, config


def load_with_metadata(path: str | Path, device: str | torch.device = "auto"):
    """As `load_checkpoint`, plus the checkpoint dict (split ids, epoch, environment...)."""
    device = resolve_device(device) if isinstance(device, str) else device
    path = resolve_checkpoint(path)
    payload = load_checkpoint_dict(path, map_location="cpu")
    model, config = build_model(payload, path)
    model.to(device).eval()
    if resolve_channels_last(config.channels_last, device):
        model.to(memory_format=torch.channels_last)  # the run's layout on this device
    payload.pop("optimizer", None)
    return model, config, payload


def build_model(payload: dict, path: str | Path = "checkpoint"):
    """(model with the checkpoint's weights, TrainConfig); CheckpointError if they disagree.

    Refused: a model_config or config that builds nothing, weights that do not fit the model,
    a config naming another model than model_config, and non-finite weights.
    """
    spec = payload["model_config"]
    asked = f"model {spec.get('name')!r} of width {spec.get('width')}"
    try:
        model = create_model(**spec)
    except Exception as exc:  # noqa: BLE001 - arguments read from the file: the file's fault
        raise CheckpointError(f"checkpoint {path}: its model_config ({asked}) builds no model "
                              f"({exc}); use a checkpoint written by afunet") from None
    built = model.config  # the arguments with create_model's defaults filled in
    asked = f"model {built['name']!r} of width {built['width']}"
    weights, expected = payload["model"], model.state_dict()
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    shapes = [(k, tuple(weights[k].shape), tuple(v.shape)) for k, v in expected.items()
              if k in weights and weights[k].shape != v.shape]
    if missing or unexpected or shapes:
        what = (f"missing key {missing[0]}" if missing else
                f"unexpected key {unexpected[0]}" if unexpected else
                f"{shapes[0][0]} has shape {list(shapes[0][1])} in the file, "
                f"{list(shapes[0][2])} in the model")
        raise CheckpointError(
            f"checkpoint {path}: its weights do not fit the {asked} its model_config asks for "
            f"({what}); the file was edited or mixes two runs: use a checkpoint written by "
            "afunet, or retrain"
        )
    check_finite(payload, path)
    try:
        config = TrainConfig.from_dict(payload["config"])
    except (AfunetError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path}: its training config is invalid ({exc}); "
                              "use a checkpoint written by afunet") from None
    kwargs = {k: v for k, v in built.items()
              if k not in ("name", "in_channels", "out_channels", "width")}
    if (config.model, config.width, config.model_kwargs) != (built["name"], built["width"], kwargs):
        raise CheckpointError(
            f"checkpoint {path}: its config names model {config.model!r} of width "
            f"{config.width}{_options(config.model_kwargs)}, but its weights are the {asked}"
            f"{_options(kwargs)}; the file was edited or mixes two runs: use a checkpoint "
            "written by afunet, or retrain"
        )
    model.load_state_dict(weights)
    return model, config


def _options(kwargs: dict) -> str:
    """Model options as ' with {...}', or '' for none."""
    return f" with {kwargs}" if kwargs else ""


@torch.no_grad()
def predict_probability(
    model: torch.nn.Module,
    image: np.ndarray,
    config: TrainConfig,
    fov: np.ndarray | None = None,
    *,
    size: int | tuple[int, int] | None = None,
    tta: bool = False,
) -> np.ndarray:
    """(H, W) float32 vessel probabilities of an (H, W, 3) uint8 RGB photograph.

    ``fov`` (bool, for the normalisation) defaults to afunet.data.fov.compute_fov; ``size`` (model
    input, int or (H, W)) to config.input_size; ``tta`` averages the four flips.
    """
    device = next(model.parameters()).device
    precision = resolve_precision(config.precision, device)
    height, width = image.shape[:2]
    if fov is None:
        fov = compute_fov(image)
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].to(device)
    f = torch.from_numpy(np.asarray(fov, bool))[None, None].to(device)
    size = size if size is not None else config.input_size
    if size is not None:
        x, _, f = resize(x, None, f, size)
    x = normalize(prepare(x, green=config.green, clahe=config.clahe), f)
    if tta:
        x = torch.cat([x, x.flip(-1), x.flip(-2), x.flip(-1, -2)])
    if resolve_channels_last(config.channels_last, device):
        x = x.contiguous(memory_format=torch.channels_last)
    with autocast(device, precision):
        logits = model(x)
    logits = logits[-1] if isinstance(logits, (list, tuple)) else logits
    prob = torch.sigmoid(logits.float())
    if tta:
        prob = (prob[0:1] + prob[1:2].flip(-1) + prob[2:3].flip(-2) + prob[3:4].flip(-1, -2)) / 4
    if prob.shape[-2:] != (height, width):
        prob = F.interpolate(prob, size=(height, width), mode="bilinear", align_corners=False)
    return prob[0, 0].clamp(0, 1).cpu().numpy().astype(np.float32)


def predict_files(
    paths: list[str | Path],
    checkpoint: str | Path,
    out_dir: str | Path,
    threshold: float = 0.5,
    *,
    device: str = "auto",
    tta: bool = False,
) -> list[dict]:
    """Segment one's own fundus photographs (PNG, JPEG, TIFF, PPM, any size).

    Writes <stem>_prob/_mask/_overlay.png. A native-size run learnt vessel widths at its training
    resolution, so photographs are scaled to its training height (aspect kept) and back. Returns a
    dict per path, {"ok": False, "error"} for an unreadable file (skipped, the rest go on).
    """
    out = ensure_folder(out_dir)  # before the model loads: a wrong --out fails at once
    model, config, payload = load_with_metadata(checkpoint, device)
    train_height = (payload.get("image_size") or [None])[0]
    results, stems = [], set()
    for path in map(Path, paths):
        try:
            image = read_photo(path)
        except AfunetError as exc:
            results.append({"path": str(path), "ok": False, "error": str(exc)})
            continue
        stem = _stem(path)
        stem = stem if stem not in stems else f"{stem}_{path.suffix.lstrip('.')}"
        stems.add(stem)
        fov = compute_fov(image)
        if fov.mean() < 0.05:  # no dark surround found (a cropped photo): use the whole frame
            fov = np.ones_like(fov)
        size = None
        if config.input_size is None and train_height and image.shape[0] != train_height:
            size = (train_height, round(image.shape[1] * train_height / image.shape[0]))
        prob = predict_probability(model, image, config, fov, size=size, tta=tta)
        mask = (prob >= threshold) & fov
        files = {k: out / f"{stem}_{k}.png" for k in ("prob", "mask", "overlay")}
        Image.fromarray(np.rint(prob * 255).astype(np.uint8)).save(files["prob"])
        Image.fromarray(mask.astype(np.uint8) * 255).save(files["mask"])
        Image.fromarray(overlay(image, mask)).save(files["overlay"])
        results.append({"path": str(path), "ok": True, **{k: str(v) for k, v in files.items()},
                        "height": image.shape[0], "width": image.shape[1],
                        "vessel_fraction": float(mask[fov].mean()) if fov.any() else 0.0})
    return results


def read_photo(path: Path) -> np.ndarray:
    """A photograph as (H, W, 3) uint8; raises AfunetError naming an unreadable file."""
    try:
        arr = read_image(path)
    except AfunetError as exc:
        reason = "no such file" if not Path(path).is_file() else (exc.__cause__ or exc)
        raise AfunetError(f"{path}: cannot read it as an image ({reason}); give a PNG, JPEG, "
                          "TIFF or PPM fundus photograph") from None
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise AfunetError(f"{path}: expected a colour photograph, got an array of shape "
                          f"{arr.shape}; give an RGB image")
    arr = arr[..., :3]
    if arr.dtype == np.uint16:
        arr = (arr >> 8).astype(np.uint8)
    elif arr.dtype != np.uint8:
        arr = np.rint(255 * arr.astype(np.float64) / max(float(arr.max()), 1e-12)).astype(np.uint8)
    return np.ascontiguousarray(arr)


def overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The photograph with vessel pixels blended towards OVERLAY_COLOUR."""
    out = image.astype(np.float32)
    colour = np.array(OVERLAY_COLOUR, np.float32)
    out[mask] = (1 - OVERLAY_ALPHA) * out[mask] + OVERLAY_ALPHA * colour
    return np.rint(out).astype(np.uint8)


def _stem(path: Path) -> str:
    """File name without its image extension(s), e.g. im0001.ppm.gz -> im0001."""
    name = path.name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    return Path(name).stem
