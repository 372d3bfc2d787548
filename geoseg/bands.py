"""Band names: from what files call their bands to geoseg's canonical names.

Canonical names follow the STAC ``eo`` common names (``blue``, ``red``, ``nir``, ``swir16`` ...),
with ``rededge1..3`` for Sentinel-2's three red-edge bands and ``scl`` / ``qa_pixel`` for the
quality layers. Sensor band codes are ambiguous across sensors (Landsat 5 ``B4`` is NIR, Sentinel-2
``B04`` is red), so codes are only resolved once the sensor is known; words (``NIR``, ``SWIR1``,
``B1_blue``) need no sensor.
"""

import re
from collections.abc import Iterable, Sequence

SENSORS = ("sentinel2", "landsat-tm", "landsat-oli")

# Sentinel-2 MSI (L1C/L2A) band codes.
_SENTINEL2 = {
    "b1": "coastal", "b2": "blue", "b3": "green", "b4": "red", "b5": "rededge1",
    "b6": "rededge2", "b7": "rededge3", "b8": "nir", "b8a": "nir08", "b9": "nir09",
    "b10": "cirrus", "b11": "swir16", "b12": "swir22", "scl": "scl",
}
# Landsat 4/5 TM and 7 ETM+ (Collection 2 SR_/ST_ prefixes are stripped before lookup).
_LANDSAT_TM = {
    "b1": "blue", "b2": "green", "b3": "red", "b4": "nir", "b5": "swir16",
    "b6": "lwir", "b7": "swir22", "qa_pixel": "qa_pixel",
}
# Landsat 8/9 OLI-TIRS.
_LANDSAT_OLI = {
    "b1": "coastal", "b2": "blue", "b3": "green", "b4": "red", "b5": "nir",
    "b6": "swir16", "b7": "swir22", "b10": "lwir11", "b11": "lwir12", "qa_pixel": "qa_pixel",
}
CODES = {"sentinel2": _SENTINEL2, "landsat-tm": _LANDSAT_TM, "landsat-oli": _LANDSAT_OLI}

# Words that name a band whatever the sensor.
WORDS = {
    "coastal": "coastal", "blue": "blue", "green": "green", "red": "red", "nir": "nir",
    "nir08": "nir08", "nir09": "nir09", "rededge1": "rededge1", "rededge2": "rededge2",
    "rededge3": "rededge3", "cirrus": "cirrus", "swir1": "swir16", "swir16": "swir16",
    "swir2": "swir22", "swir22": "swir22", "thermal": "lwir", "tir": "lwir", "lwir": "lwir",
    "lwir11": "lwir11", "lwir12": "lwir12", "scl": "scl", "qa_pixel": "qa_pixel",
}
CANONICAL = frozenset(WORDS.values()) | frozenset(n for t in CODES.values() for n in t.values())
QUALITY_BANDS = frozenset({"scl", "qa_pixel"})

# Sensor hints in file names or tags, checked in this order.
_SENSOR_HINTS = (
    ("sentinel2", re.compile(r"(^|[^a-z0-9])(s2[ab]?|sentinel-?2[ab]?|msi)([^a-z0-9]|$)|"
                             r"(^|_)t\d\d[a-z]{3}(_|$)")),
    ("landsat-oli", re.compile(r"(^|[^a-z0-9])(lc0?[89]|landsat-?[89]|oli)([^a-z0-9]|$)")),
    ("landsat-tm", re.compile(r"(^|[^a-z0-9])(l[te]0?[457]|landsat-?[457]|tm|etm)([^a-z0-9]|$)")),
)
_CODE = re.compile(r"^(?:sr_|st_|toa_)?b(\d{1,2}a?)$")


def _tokens(label: str) -> list[str]:
    return [t for t in re.split(r"[\s\-.:/]+|(?<=[a-z0-9])_(?=[a-z])", label.lower()) if t]


def _code(token: str) -> str | None:
    """``B04`` / ``SR_B4`` / ``b8A`` → ``b4`` / ``b4`` / ``b8a``; anything else → None."""
    match = _CODE.match(token)
    return f"b{match.group(1).lstrip('0') or '0'}" if match else None


def sensor_from_text(text: str) -> str | None:
    """The sensor a file name or tag text names (``S2A_...``, ``LC08_...``, ``landsat5``), or None."""
    low = text.lower()
    for sensor, pattern in _SENSOR_HINTS:
        if pattern.search(low):
            return sensor
    return None


def sensor_from_codes(labels: Iterable[str]) -> str | None:
    """The sensor that band codes alone reveal: ``B8A``/``B11``/``B12`` or two-digit codes → S2."""
    labels = [lab.lower() for lab in labels]
    codes = {_code(t) for lab in labels for t in _tokens(lab)} - {None}
    if codes & {"b8a", "b9", "b11", "b12"} or any(re.search(r"b0\d", lab) for lab in labels):
        return "sentinel2"
    if "qa_pixel" in labels or any(lab.startswith(("sr_b", "st_b")) for lab in labels):
        # Collection 2: SR_B6 is SWIR 1 on OLI; TM/ETM+ has no SR_B6 (its band 6 is ST_B6).
        return "landsat-oli" if any(lab.startswith("sr_b6") for lab in labels) else "landsat-tm"
    return None


def canonical_name(label: str, sensor: str | None) -> str | None:
    """The canonical name of one band label, or None when it cannot be decided.

    A word in the label wins (``B1_blue`` → ``blue``, ``SWIR1`` → ``swir16``); else a band code
    is looked up in the sensor's table.
    """
    tokens = _tokens(label) or [label.lower()]
    if label.lower() in WORDS:
        return WORDS[label.lower()]
    for token in tokens:
        if token in WORDS:
            return WORDS[token]
    if sensor is None:
        return None
    table = CODES[sensor]
    for token in tokens:
        code = _code(token)
        if code in table:
            return table[code]
    return None


def canonical_names(labels: Sequence[str], sensor: str | None) -> list[str | None]:
    """``canonical_name`` for every label (order kept)."""
    return [canonical_name(label, sensor) for label in labels]


def band_label_from_filename(stem: str) -> str | None:
    """The band label a per-band file name carries (``T20LNR_..._B04_10m`` → ``B04``), or None."""
    tokens = re.split(r"[_.\-]", stem)
    for i, token in enumerate(tokens):
        low = token.lower()
        if low == "qa" and i + 1 < len(tokens) and tokens[i + 1].lower() == "pixel":
            return "QA_PIXEL"
        if low in {"sr", "st"} and i + 1 < len(tokens) and _code(tokens[i + 1].lower()):
            return f"{token}_{tokens[i + 1]}"
        if low == "scl" or _code(low):
            return token
    return None
