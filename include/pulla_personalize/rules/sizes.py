"""The cup and band sizes Pulla sells: the one definition the rules, the gate and the demo shop share.

Plain tuples without any import, so the demo shop generator can take them without loading pandas.
"""

from __future__ import annotations

#: Cup sizes in size order (AA is smaller than A), the order multi-values are joined in.
CUP_SIZES = ("AA", "A", "B", "C", "D", "E", "F", "G")
#: Band sizes as the text the datasets hold ("75", never 75 or "75.0"), 60 to 100 in steps of 5, in size order.
BAND_SIZES = tuple(str(size) for size in range(60, 101, 5))
