"""Progress bars with ETA (tqdm) that print their finished line once.

tqdm's ``close()`` draws the bar again even when the last update already showed 100%; on a
terminal the two overwrite each other, but in a log file or a notebook (stderr not a terminal)
the user sees "generate: 100%" twice. This bar skips that redraw.
"""
from __future__ import annotations

from tqdm import tqdm


class Bar(tqdm):
    def close(self):
        self._done_shown = (not getattr(self, "disable", True) and self.total is not None
                            and self.n >= self.total
                            and getattr(self, "last_print_n", None) == self.n)
        super().close()

    def display(self, msg=None, pos=None):
        if getattr(self, "_done_shown", False) and msg is None:
            return True
        return super().display(msg, pos)


def bar(total=None, desc: str = "", unit: str = "it", enabled: bool = True, **kwargs) -> Bar:
    return Bar(total=total, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True,
               **kwargs)
