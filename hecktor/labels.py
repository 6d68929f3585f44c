"""The label values of a HECKTOR segmentation (on the CT grid, uint8), defined once.

``0`` background, ``1`` GTVp (primary tumour, one per patient at most), ``2`` GTVn (lymph nodes, any number
of lesions). Used by the evaluation, the algorithm and the synthetic generator.
"""

from __future__ import annotations

BACKGROUND, GTVP, GTVN = 0, 1, 2
#: Foreground labels, in order.
LABELS: tuple[int, int] = (GTVP, GTVN)
#: Names of the foreground labels, as in metric keys (``GTVp_mean_dice``) and messages.
LABEL_NAMES: dict[int, str] = {GTVP: "GTVp", GTVN: "GTVn"}
#: Largest valid label value.
MAX_LABEL = GTVN
