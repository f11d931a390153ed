"""Fault injection and the detection report."""

from __future__ import annotations

import numpy as np
import pytest

from stream_app.core.faults import (
    InjectedFault,
    detection_report,
    inject_faults,
    observable,
    observable_recall,
)
from tests.unit.test_online_data import steel


def test_injected_faults_are_real_and_separated() -> None:
    _, vs = steel(6000)
    out, faults = inject_faults(vs, rng_seed=3, every=300, start=700)
    assert len(faults) >= 15
    assert {f.kind for f in faults} == {"spike", "dip", "sustained_drop", "flatline"}
    starts = [f.index for f in faults]
    assert starts == sorted(starts) and min(np.diff(starts)) >= 300 - 100
    assert min(starts) >= 700
    changed = np.nonzero(out != vs)[0]
    spans = np.zeros(len(vs), bool)
    for f in faults:
        spans[f.index : f.index + f.length] = True
        seg, orig = out[f.index : f.index + f.length], vs[f.index : f.index + f.length]
        if f.kind == "spike":
            assert seg[0] >= 1.6 * max(orig[0], 1e-9)
        elif f.kind == "dip":
            assert seg[0] <= 0.3 * max(np.median(vs[f.index - 8 : f.index]), orig[0]) + 1e-9
        elif f.kind == "sustained_drop":
            assert f.length >= 16 and np.allclose(
                seg / np.where(orig == 0, 1, orig), seg[0] / max(orig[0], 1e-9)
            )
        else:
            assert f.length >= 12 and np.all(seg == out[f.index - 1])
    assert spans[changed].all()  # nothing outside the fault spans was touched
    assert np.array_equal(inject_faults(vs, 3, 300, start=700)[0], out)  # reproducible


def test_detection_report_by_hand() -> None:
    faults = [InjectedFault(10, "spike", 1), InjectedFault(50, "sustained_drop", 20)]
    flags = np.zeros(100, bool)
    flags[12] = True  # within 3 of the first fault
    flags[53] = True  # too late for the second fault, but inside its span: not a false alarm
    flags[80] = True  # outside spans + recovery (50 + 20 + 4 = 74): a false alarm
    recall, far = detection_report(flags, faults, within=3, recovery=4)
    assert recall == 0.5
    outside = 100 - (1 + 4) - (20 + 4)
    assert far == pytest.approx(1 / outside)


def test_detection_report_needs_faults() -> None:
    with pytest.raises(ValueError):
        detection_report([False] * 10, [])


def test_observable_oracle_tells_routine_patterns_from_faults() -> None:
    rng = np.random.default_rng(0)
    idle = np.round(3.0 + rng.normal(0.0, 0.02, 3000), 1)  # a coarse meter idling: repeats all the time
    stuck = idle.copy()
    stuck[1000:1015] = stuck[999]
    assert not observable(idle, stuck, 1000, "flatline")
    running = 50.0 + rng.normal(0.0, 5.0, 3000)  # a running machine never repeats exactly
    stuck = running.copy()
    stuck[1000:1015] = stuck[999]
    assert observable(running, stuck, 1000, "flatline")
    plant = np.where(rng.random(3000) < 0.5, 100.0, 45.0) + rng.normal(0.0, 2.0, 3000)  # halves all day
    dropped = plant.copy()
    dropped[1000:1020] *= 0.5
    assert not observable(plant, dropped, 1000, "sustained_drop")
    calm = 3.0 + rng.normal(0.0, 0.05, 3000)
    dropped = calm.copy()
    dropped[1000:1020] *= 0.5
    assert observable(calm, dropped, 1000, "sustained_drop")
    assert observable(calm, dropped, 1000, "spike")  # one-reading faults are always observable


def test_observable_recall_counts_only_observable_faults() -> None:
    faults = [
        InjectedFault(10, "flatline", 12, observable=False),
        InjectedFault(50, "spike", 1),
        InjectedFault(80, "sustained_drop", 16),
    ]
    flags = np.zeros(120, bool)
    flags[51] = True
    assert observable_recall(flags, faults, within=3) == (1, 2)
