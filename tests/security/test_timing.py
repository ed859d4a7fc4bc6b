"""The password check takes the same time however much of the password matched, and whether
the user exists or not (an unknown user pays the same key derivation against a fake
credential; without that, an unknown user would answer ~2 ms sooner and this fails).

CPU time of this thread (not wall time: other processes on a loaded machine do not count),
interleaved trials and medians."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from logd.security.credentials import PasswordVerifier
from logd.security.scram import ScramMechanism, make_credential

PASSWORD = "correct-horse-battery-staple"
TRIALS = 60


def _medians(variants: dict[str, Callable[[], object]]) -> dict[str, float]:
    samples: dict[str, list[int]] = {name: [] for name in variants}
    for _ in range(TRIALS):
        for name, call in variants.items():
            start = time.thread_time_ns()
            call()
            samples[name].append(time.thread_time_ns() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def test_password_check_time_does_not_depend_on_the_match_or_the_user() -> None:
    store = {"alice": [make_credential(ScramMechanism.SCRAM_SHA_256, PASSWORD, b"s" * 16, 4096)]}
    verifier = PasswordVerifier(lambda user: store.get(user, []), b"k" * 32, cache_max=1)
    medians = _medians(
        {
            "nothing matches": lambda: verifier.verify("alice", "x" * len(PASSWORD)),
            "all but the last": lambda: verifier.verify("alice", PASSWORD[:-1] + "x"),
            "unknown user": lambda: verifier.verify("mallory", PASSWORD),
        }
    )
    low, high = min(medians.values()), max(medians.values())
    assert (high - low) / low < 0.25, medians
