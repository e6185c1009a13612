"""Progress bars with ETA (tqdm) that print their finished line once and estimate from
measured steps.

tqdm's ``close()`` draws the bar again even when the last update already showed 100%; on a
terminal the two overwrite each other, but in a log file or a notebook (stderr not a terminal)
the user sees "generate: 100%" twice. This bar skips that redraw.

A bar whose first update includes compiling (``warmup=True``: a training step, a classifier
step, a generator's first batch) does not count that update in its rate: tqdm would divide the
remaining work by a rate that includes the compile and show an ETA many times too long (24 min
for a run that took 1:39, issue 35). Its ETA shows "?" until a second update, then the average
rate since the first one (the later snapshots, exports and scoring included, as they recur). A
bar that one update finishes (a generator's single batch) shows its whole-run rate.
"""
from __future__ import annotations

from tqdm import tqdm


class Bar(tqdm):
    def __init__(self, *args, warmup: bool = False, **kwargs):
        # set before tqdm's __init__, which may draw the bar
        self._clock = "waiting" if warmup else None     # then (time, n) of the first update
        super().__init__(*args, **kwargs)

    def update(self, n=1):
        shown = super().update(n)
        if self._clock == "waiting" and not self.disable:
            self._clock = (self._time(), self.n)
        return shown

    @property
    def format_dict(self):
        d = super().format_dict
        clock = getattr(self, "_clock", None)
        if clock is not None:
            measured = 0         # 0 makes tqdm print "?" for the rate and the ETA
            if clock != "waiting":
                t0, n0 = clock
                dt = self._time() - t0
                if dt > 0 and self.n > n0:
                    measured = (self.n - n0) / dt
            done = self.total is not None and self.n >= self.total
            # a bar finished by its one (compiling) update has no other rate to show than the
            # whole run's; there is no ETA left to mislead
            if measured or not done:
                d["rate"] = measured
        return d

    def close(self):
        # drawn by an update, or by a refresh (tqdm.write redraws bars after a log line)
        drawn = getattr(self, "_drawn_n", None)
        self._done_shown = (not getattr(self, "disable", True) and self.total is not None
                            and self.n >= self.total
                            and self.n in (getattr(self, "last_print_n", None), drawn))
        super().close()

    def display(self, msg=None, pos=None):
        if getattr(self, "_done_shown", False) and msg is None:
            return True
        if msg is None:
            self._drawn_n = self.n
        return super().display(msg, pos)


def bar(total=None, desc: str = "", unit: str = "it", enabled: bool = True,
        warmup: bool = False, **kwargs) -> Bar:
    return Bar(total=total, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True,
               warmup=warmup, **kwargs)
