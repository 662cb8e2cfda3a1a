"""The default catalogue of 25 image transforms in six categories (reconstructed).

arXiv 2503.09837 names six categories but does not publish its list, parameters or wording, so
every entry here is our choice and results say so. Size-dependent parameters are fractions of the
image's shorter side, so a 64 px scene and a 500 px photo get the same visual effect.

Each description completes the sentence "The image is {description}." and says what the pixels
do: `rotate` turns clockwise (PIL's own `rotate(90)` turns counter-clockwise), and `stretch`
factors multiply width and height. The same structure is the format of a `transforms_file`.
"""

from __future__ import annotations

CATEGORIES: tuple[str, ...] = ("geometric", "colour", "clarity", "distortion", "size", "processing")

DEFAULT_CATALOGUE: tuple[dict, ...] = (
    # geometric
    {"name": "rotate_90", "category": "geometric", "op": "rotate", "params": {"degrees_clockwise": 90},
     "descriptions": ["rotated 90 degrees clockwise", "turned a quarter turn to the right",
                      "turned on its side"]},
    {"name": "rotate_180", "category": "geometric", "op": "rotate", "params": {"degrees_clockwise": 180},
     "descriptions": ["rotated 180 degrees", "upside down", "turned half a turn"]},
    {"name": "rotate_270", "category": "geometric", "op": "rotate", "params": {"degrees_clockwise": 270},
     "descriptions": ["rotated 90 degrees counterclockwise", "turned a quarter turn to the left",
                      "rotated 270 degrees clockwise"]},
    {"name": "hflip", "category": "geometric", "op": "hflip", "params": {},
     "descriptions": ["flipped horizontally", "mirrored left to right", "a mirror image"]},
    {"name": "vflip", "category": "geometric", "op": "vflip", "params": {},
     "descriptions": ["flipped vertically", "mirrored top to bottom",
                      "reflected across the horizontal axis"]},
    # colour
    {"name": "brightness_up", "category": "colour", "op": "brightness", "params": {"factor": 1.5},
     "descriptions": ["brighter", "with increased brightness", "overexposed"]},
    {"name": "brightness_down", "category": "colour", "op": "brightness", "params": {"factor": 0.5},
     "descriptions": ["darker", "with reduced brightness", "underexposed"]},
    {"name": "contrast_up", "category": "colour", "op": "contrast", "params": {"factor": 1.5},
     "descriptions": ["with increased contrast", "high contrast", "with stronger contrast"]},
    {"name": "contrast_down", "category": "colour", "op": "contrast", "params": {"factor": 0.5},
     "descriptions": ["with reduced contrast", "low contrast", "washed out"]},
    {"name": "saturation_up", "category": "colour", "op": "saturation", "params": {"factor": 1.5},
     "descriptions": ["more saturated", "with vivid colors", "with boosted saturation"]},
    {"name": "grayscale", "category": "colour", "op": "grayscale", "params": {},
     "descriptions": ["in grayscale", "in black and white", "without color"]},
    {"name": "hue_shift", "category": "colour", "op": "hue", "params": {"shift": 0.25},
     "descriptions": ["hue shifted", "with shifted colors", "with unnatural colors"]},
    {"name": "invert", "category": "colour", "op": "invert", "params": {},
     "descriptions": ["color inverted", "a negative", "with inverted colors"]},
    # clarity
    {"name": "blur", "category": "clarity", "op": "blur", "params": {"sigma_fraction": 0.015},
     "descriptions": ["blurred", "blurry", "out of focus"]},
    {"name": "sharpen", "category": "clarity", "op": "sharpness", "params": {"factor": 3.0},
     "descriptions": ["sharpened", "with enhanced sharpness", "oversharpened"]},
    # distortion
    {"name": "perspective", "category": "distortion", "op": "perspective", "params": {"distortion": 0.5},
     "descriptions": ["distorted by a perspective warp", "seen at an oblique angle",
                      "warped in perspective"]},
    {"name": "shear", "category": "distortion", "op": "affine",
     "params": {"shear_degrees": 20, "translate_fraction": 0.1},
     "descriptions": ["sheared horizontally", "slanted sideways", "skewed"]},
    # size
    {"name": "center_crop", "category": "size", "op": "center_crop", "params": {"fraction": 0.5},
     "descriptions": ["cropped to its center", "zoomed in on the center", "tightly cropped"]},
    {"name": "stretch_horizontal", "category": "size", "op": "stretch",
     "params": {"x_factor": 2.0, "y_factor": 1.0},
     "descriptions": ["stretched horizontally", "made twice as wide", "squashed flat and wide"]},
    {"name": "stretch_vertical", "category": "size", "op": "stretch",
     "params": {"x_factor": 1.0, "y_factor": 2.0},
     "descriptions": ["stretched vertically", "made twice as tall", "elongated vertically"]},
    # processing
    {"name": "gaussian_noise", "category": "processing", "op": "gaussian_noise", "params": {"sigma": 0.1},
     "descriptions": ["covered in random noise", "noisy", "grainy"]},
    {"name": "solarize", "category": "processing", "op": "solarize", "params": {"threshold": 128},
     "descriptions": ["solarized", "with its bright areas inverted", "with a solarization effect"]},
    {"name": "posterize", "category": "processing", "op": "posterize", "params": {"bits": 2},
     "descriptions": ["posterized", "reduced to a few color levels", "with banded colors"]},
    {"name": "equalize", "category": "processing", "op": "equalize", "params": {},
     "descriptions": ["histogram equalized", "with an equalized histogram", "with equalized tones"]},
    {"name": "jpeg", "category": "processing", "op": "jpeg", "params": {"quality": 10},
     "descriptions": ["heavily JPEG compressed", "showing compression artifacts", "blocky from compression"]},
)
