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
    "b1": "coastal",
    "b2": "blue",
    "b3": "green",
    "b4": "red",
    "b5": "rededge1",
    "b6": "rededge2",
    "b7": "rededge3",
    "b8": "nir",
    "b8a": "nir08",
    "b9": "nir09",
    "b10": "cirrus",
    "b11": "swir16",
    "b12": "swir22",
    "scl": "scl",
}
# Landsat 4/5 TM and 7 ETM+ (Collection 2 SR_/ST_ prefixes are stripped before lookup).
_LANDSAT_TM = {
    "b1": "blue",
    "b2": "green",
    "b3": "red",
    "b4": "nir",
    "b5": "swir16",
    "b6": "lwir",
    "b7": "swir22",
    "qa_pixel": "qa_pixel",
}
# Landsat 8/9 OLI-TIRS.
_LANDSAT_OLI = {
    "b1": "coastal",
    "b2": "blue",
    "b3": "green",
    "b4": "red",
    "b5": "nir",
    "b6": "swir16",
    "b7": "swir22",
    "b10": "lwir11",
    "b11": "lwir12",
    "qa_pixel": "qa_pixel",
}
CODES = {"sentinel2": _SENTINEL2, "landsat-tm": _LANDSAT_TM, "landsat-oli": _LANDSAT_OLI}

# Words that name a band whatever the sensor.
WORDS = {
    "coastal": "coastal",
    "blue": "blue",
    "green": "green",
    "red": "red",
    "nir": "nir",
    "nir08": "nir08",
    "nir09": "nir09",
    "rededge1": "rededge1",
    "rededge2": "rededge2",
    "rededge3": "rededge3",
    "cirrus": "cirrus",
    "swir1": "swir16",
    "swir16": "swir16",
    "swir2": "swir22",
    "swir22": "swir22",
    "thermal": "lwir",
    "tir": "lwir",
    "lwir": "lwir",
    "lwir11": "lwir11",
    "lwir12": "lwir12",
    "scl": "scl",
    "qa_pixel": "qa_pixel",
    # Phrases, matched on consecutive words run together ("Red Edge 1" → rededge1).
    "coastalaerosol": "coastal",
    "nearinfrared": "nir",
    "shortwaveinfrared1": "swir16",
    "shortwaveinfrared2": "swir22",
}
CANONICAL = frozenset(WORDS.values()) | frozenset(n for t in CODES.values() for n in t.values())
QUALITY_BANDS = frozenset({"scl", "qa_pixel"})

# Sensor hints in file names or tags, checked in this order.
_SENSOR_HINTS = (
    (
        "sentinel2",
        re.compile(
            r"(^|[^a-z0-9])(s2[ab]?|sentinel[-_ ]?2[ab]?|msi|t\d\d[a-z]{3})"
            r"([^a-z0-9]|$)"
        ),
    ),
    ("landsat-oli", re.compile(r"(^|[^a-z0-9])(lc0?[89]|landsat[-_ ]?[89]|oli)([^a-z0-9]|$)")),
    (
        "landsat-tm",
        re.compile(r"(^|[^a-z0-9])(l[te]0?[457]|landsat[-_ ]?[457]|tm|etm)([^a-z0-9]|$)"),
    ),
)
_CODE = re.compile(r"^(?:sr_|st_|toa_)?b(\d{1,2}a?)$")
# A Landsat Collection-2 product id; what follows it in a file name is the band (SR_B4, QA_PIXEL,
# ST_QA, SR_QA_AEROSOL ...).
_LANDSAT_PRODUCT = re.compile(
    r"^L[COTEM]0\d_L[12][A-Z]{2}_\d{6}_\d{8}_\d{8}_\d{2}_[A-Z0-9]{2}_(.+)$", re.IGNORECASE
)


def _tokens(label: str) -> list[str]:
    return [t for t in re.split(r"[\s\-_.,:;/()\[\]]+", label.lower()) if t]


def _word(tokens: list[str]) -> str | None:
    """The canonical name of the longest run of tokens that is a word (``red edge 1`` → rededge1)."""
    for n in (3, 2, 1):
        for i in range(len(tokens) - n + 1):
            run = "".join(tokens[i : i + n])
            if run in WORDS:
                return WORDS[run]
    return None


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
        oli = any(lab.startswith(("sr_b6", "st_b10")) for lab in labels)
        return "landsat-oli" if oli else "landsat-tm"
    return None


def canonical_name(label: str, sensor: str | None) -> str | None:
    """The canonical name of one band label, or None when it cannot be decided.

    A word in the label wins (``B1_blue`` → ``blue``, ``SWIR1`` → ``swir16``, ``Red Edge 1`` →
    ``rededge1``); else a band code is looked up in the sensor's table.
    """
    if label.lower() in WORDS:
        return WORDS[label.lower()]
    tokens = _tokens(label)
    word = _word(tokens)
    if word is not None or sensor is None:
        return word
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
    """The band label a per-band file name carries, or None.

    ``T20LNR_..._B04_10m`` → ``B04``, ``B8A`` → ``B8A``, ``LC08_L2SP_..._T1_SR_B4`` → ``SR_B4``,
    ``LC08_..._QA_PIXEL`` → ``QA_PIXEL`` (any layer after a Landsat product id, e.g. ``ST_QA``).
    """
    product = _LANDSAT_PRODUCT.match(stem)
    if product:
        return product.group(1)
    tokens = re.split(r"[_.\-]", stem)
    for i, token in enumerate(tokens):
        low, following = token.lower(), tokens[i + 1].lower() if i + 1 < len(tokens) else ""
        if (low == "qa" and following == "pixel") or (low in {"sr", "st"} and _code(following)):
            return f"{token}_{tokens[i + 1]}"
        if low == "scl" or _code(low):
            return token
    return None
