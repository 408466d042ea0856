"""Vessel probability maps from a trained checkpoint, for data-set images and one's own photographs.

    >>> model, config = load_checkpoint("runs/cpu/drive-afunet-s0/best.pt")
    >>> prob = predict_probability(model, image, config)          # (H, W) float32 in [0, 1]

Each image gets its run's training preprocessing (resize if trained with ``input_size``, green /
CLAHE, z-score inside the FOV); probabilities are resized back to the image's own size.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from afunet.config import TrainConfig
from afunet.data.fov import compute_fov, fov_diameter
from afunet.data.io import file_bytes, read_mask
from afunet.data.transforms import normalize, prepare, resize
from afunet.device import autocast, resolve_channels_last, resolve_device, resolve_precision
from afunet.errors import AfunetError, CheckpointError, UsageError, ensure_folder
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


# The input policy, one for every caller (predict, evaluate, notebooks, Figure 2). A photograph
# whose FOV diameter differs from the training images' by more than RESCALE_TOLERANCE is
# rescaled to match; closer ones stay native, so DRIVE and STARE runs keep their own scale.
# Chosen on the other set's training images, not on test images (docs/decisions.md).
RESCALE_TOLERANCE = 0.25
INPUT_RULE = (f"native, unless the FOV diameter differs from the training images' by more "
              f"than {RESCALE_TOLERANCE:.0%}: then rescaled to match")
# Median FOV diameter (px) of each published set's training images, for checkpoints written
# before they recorded their own (tests/test_data_real.py recomputes them).
KNOWN_FOV_DIAMETERS = {"drive": 538.0, "stare": 630.2}


def training_fov_diameter(payload: dict, config: TrainConfig) -> float | None:
    """The FOV diameter a checkpoint's model learnt at (None: unknown, so never rescale)."""
    return payload.get("fov_diameter") or KNOWN_FOV_DIAMETERS.get(config.dataset)


def input_scale(fov: np.ndarray, train_diameter: float | None) -> float:
    """1.0, or the factor that brings the FOV's diameter to the training images' (see above).

    A FOV that touches all four edges belongs to a photograph cropped inside its field of view:
    its area no longer tells the disc's size, so the photograph stays at its own scale.
    """
    if not train_diameter or not np.any(fov) or _fills_frame(fov):
        return 1.0
    scale = train_diameter / fov_diameter(fov)
    return 1.0 if abs(scale - 1.0) <= RESCALE_TOLERANCE else scale


def _fills_frame(fov: np.ndarray) -> bool:
    return bool(fov[0].any() and fov[-1].any() and fov[:, 0].any() and fov[:, -1].any())


def photo_fov(image: np.ndarray) -> np.ndarray:
    """The FOV of a photograph without a mask: computed, or the whole frame for a cropped one."""
    fov = compute_fov(image)
    return fov if fov.mean() >= 0.05 else np.ones_like(fov)  # no dark surround was found


def segment(model, config: TrainConfig, image: np.ndarray, fov: np.ndarray,
            train_diameter: float | None, *, tta: bool = False) -> tuple[np.ndarray, float]:
    """The one inference path: (probabilities at the image's size, the input scale used)."""
    scale = input_scale(fov, train_diameter) if config.input_size is None else 1.0
    size = None
    if scale != 1.0:
        size = (round(image.shape[0] * scale), round(image.shape[1] * scale))
    return predict_probability(model, image, config, fov, size=size, tta=tta), scale


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


# Photographs outside these bounds are refused, not guessed at: a fundus photograph is
# roughly round, so a long strip is another kind of image, and a huge one would exhaust memory.
MIN_SIDE, MAX_SIDE, MAX_ASPECT = 64, 8192, 4.0
DEFAULT_THRESHOLD = 0.5  # for checkpoints that carry no threshold of their own
OUTPUTS = ("prob", "mask", "overlay")  # what predict writes per photograph, <stem>_<kind>.png


def predict_files(
    paths: list[str | Path],
    checkpoint: str | Path | None,
    out_dir: str | Path,
    threshold: float | None = None,
    *,
    device: str = "auto",
    tta: bool = False,
    outputs: tuple[str, ...] = OUTPUTS,
    fovs: list[str | Path] | None = None,
) -> list[dict]:
    """Segment one's own fundus photographs (PNG, JPEG, TIFF, PPM, any colour mode Pillow opens).

    Writes <stem>_prob/_mask/_overlay.png (``outputs``) under ``out_dir``, keeping each input's
    path relative to the inputs' common folder, so two eye.png never overwrite each other.
    ``checkpoint`` None: the general-purpose model shipped with afunet (`afunet.general`);
    ``threshold`` None: the checkpoint's own (chosen on its validation images), else 0.5.
    ``fovs`` gives a mask per photograph (else each FOV is computed); the input scale follows
    `input_scale`, as in evaluation. Returns one dict per path; a file that cannot be read, is
    out of bounds or cannot be written gets {"ok": False, "error"} and the rest go on.
    """
    if threshold is not None and not 0.0 <= threshold <= 1.0:  # also refuses NaN
        raise UsageError(f"threshold {threshold} is outside [0, 1]")
    unknown = sorted(set(outputs) - set(OUTPUTS))
    if unknown or not outputs:
        raise UsageError(f"outputs {list(outputs)}: choose one or more of {', '.join(OUTPUTS)}")
    out = ensure_folder(out_dir)  # before the model loads: a wrong --out fails at once
    paths = [Path(p) for p in paths]
    if fovs is not None and len(fovs) != len(paths):
        raise UsageError(f"{len(fovs)} FOV masks for {len(paths)} images: give one per image")
    if checkpoint is None:
        from afunet import general  # a torch-free module, imported where it is needed
        checkpoint = general.weights()
    model, config, payload = load_with_metadata(checkpoint, device)
    if threshold is None:  # the checkpoint's own, chosen on its validation images
        threshold = payload.get("threshold", DEFAULT_THRESHOLD)
    train_diameter = training_fov_diameter(payload, config)
    base = _common_folder(paths)
    results, taken = [], set()
    for i, path in enumerate(paths):
        try:
            image = read_photo(path)
            stem = _output_stem(path, base, taken)
            fov = photo_fov(image) if fovs is None else _read_fov(fovs[i], image.shape[:2])
            prob, scale = segment(model, config, image, fov, train_diameter, tta=tta)
            mask = (prob >= threshold) & fov
            arrays = {"prob": np.rint(prob * 255).astype(np.uint8),
                      "mask": mask.astype(np.uint8) * 255, "overlay": overlay(image, mask)}
            files = {k: out / f"{stem}_{k}.png" for k in outputs}
            for kind, file in files.items():
                _save_png(arrays[kind], file)
        except AfunetError as exc:
            results.append({"path": str(path), "ok": False, "error": str(exc)})
            continue
        results.append({"path": str(path), "ok": True, **{k: str(v) for k, v in files.items()},
                        "height": image.shape[0], "width": image.shape[1], "scale": scale,
                        "threshold": threshold,
                        "vessel_fraction": float(mask[fov].mean()) if fov.any() else 0.0})
    return results


def read_photo(path: str | Path) -> np.ndarray:
    """A photograph as (H, W, 3) uint8, whatever its colour mode; AfunetError naming the file.

    Palette, CMYK, YCbCr, grey, 16-bit grey and images with alpha (composited on black, the
    colour around a fundus) are converted; float images are refused by name. EXIF rotation
    (phone photographs) is applied. Sizes outside MIN_SIDE, MAX_SIDE, MAX_ASPECT are refused.
    """
    path = Path(path)
    if not path.is_file():
        raise AfunetError(f"{path}: no such file; give a PNG, JPEG, TIFF or PPM fundus photograph")
    try:
        with Image.open(io.BytesIO(file_bytes(path))) as im:
            _check_size(path, *im.size)  # from the header, before decoding a huge image
            im = ImageOps.exif_transpose(im)
            rgb = _to_rgb(im, path)
    except AfunetError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure means the same to a user
        reason = ("not a format Pillow knows" if isinstance(exc, UnidentifiedImageError)
                  else f"{type(exc).__name__}: {exc}")
        raise AfunetError(f"{path}: cannot read it as an image ({reason}); "
                          "give a PNG, JPEG, TIFF or PPM fundus photograph") from None
    return np.ascontiguousarray(rgb)


def _read_fov(path: str | Path, shape: tuple[int, int]) -> np.ndarray:
    """A FOV mask file (any non-zero pixel is inside) of the photograph's size."""
    try:
        mask = read_mask(path)
    except AfunetError:
        raise AfunetError(f"FOV mask {path} cannot be read as an image: give a PNG, GIF or TIFF "
                          "mask of the photograph's size, non-zero inside the field of view") from None
    if mask.shape != tuple(shape):
        raise AfunetError(f"FOV mask {path} is {mask.shape[1]} x {mask.shape[0]} px, its "
                          f"photograph {shape[1]} x {shape[0]}: give the mask of that photograph")
    return mask


def _check_size(path: Path, width: int, height: int) -> None:
    """Refuse a photograph too small, too large or too elongated to be a fundus photograph."""
    short, long_ = min(width, height), max(width, height)
    if short < MIN_SIDE:
        raise AfunetError(f"{path}: {width} x {height} px is too small (each side at least "
                          f"{MIN_SIDE} px); give the full fundus photograph")
    if long_ > MAX_SIDE:
        raise AfunetError(f"{path}: {width} x {height} px exceeds the limit of {MAX_SIDE} px a "
                          "side; scale it down first")
    if long_ / short > MAX_ASPECT:
        raise AfunetError(f"{path}: {width} x {height} px is {long_ / short:.1f} times longer "
                          f"than wide (at most {MAX_ASPECT:g}); a fundus photograph is roughly "
                          "round: crop it to the eye")


def _to_rgb(im: Image.Image, path: Path) -> np.ndarray:
    """Pillow image of any photographic mode -> (H, W, 3) uint8."""
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        grey = np.asarray(im, dtype=np.int64)
        if grey.min() < 0 or grey.max() > 65535:
            raise AfunetError(f"{path}: a {mode} image with values outside 16 bits; give an "
                              "8- or 16-bit photograph")
        grey = (grey >> 8) if grey.max() > 255 else grey
        return np.repeat(grey.astype(np.uint8)[..., None], 3, axis=2)
    if mode == "F":
        raise AfunetError(f"{path}: a 32-bit floating-point image (mode F) is not a photograph; "
                          "save it as an 8-bit PNG or JPEG")
    if "A" in mode or "a" in mode or (mode == "P" and "transparency" in im.info):
        black = Image.new("RGBA", im.size, (0, 0, 0, 255))
        im = Image.alpha_composite(black, im.convert("RGBA"))
    return np.array(im.convert("RGB"), dtype=np.uint8)  # a writable copy, as torch wants


def _common_folder(paths: list[Path]) -> Path:
    """The deepest folder holding every input (outputs keep paths relative to it)."""
    folders = [str(p.resolve().parent) for p in paths]
    return Path(os.path.commonpath(folders)) if folders else Path(".")


def _output_stem(path: Path, base: Path, taken: set) -> str:
    """<folders below base>/<stem>, made unique (eye.png beside eye.jpg: eye_jpg)."""
    rel = path.resolve().parent.relative_to(base)
    stem = str(rel / _stem(path))
    if stem in taken:
        stem = f"{stem}_{path.name.split('.', 1)[-1].replace('.', '_')}"
    taken.add(stem)
    return stem


def _save_png(array: np.ndarray, file: Path) -> None:
    """Write a PNG whole or not at all; a full disk or a read-only folder names the file."""
    tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(tmp, format="PNG")
        os.replace(tmp, file)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise AfunetError(f"cannot write {file}: {exc.strerror or exc}; free some space or "
                          "choose another --out") from None


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
