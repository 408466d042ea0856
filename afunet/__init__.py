"""afunet: a reproducible package of "AF-UNet: Asymmetric Fusion UNet" for retinal vessel segmentation."""

__version__ = "0.1.0"
