"""What TLS costs logd: produce and replay through one broker in plaintext, with TLS, and with
mutual TLS plus SASL users (the ``logd dev --secure`` setup), side by side in one run, as
ratios to plaintext.

Run: ``.venv/bin/python -m bench.tls_cost [RECORDS] [REPEATS]`` (default 300,000 x 2, 100 B
values as the suite's, acks=all, fsync always). The three brokers run one after another and
the repeats alternate their order, so a loaded machine slows each alike. Prints a markdown
table and writes ``bench/results/tls-<UTC>.json``. A benchmark, not a test.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.harness import values_of
from bench.logd_suite import LogdCluster, produce_batch, replay

__all__ = ["main"]

RESULTS = Path(__file__).parent / "results"
PASSWORD = "bench-secret"


def _pki(root: Path) -> Path:
    from logd.security.certs import issue, make_ca

    now = dt.datetime.now(dt.UTC)
    pki = root / "pki"
    pki.mkdir()
    ca = make_ca("bench", now)
    (pki / "ca.crt").write_bytes(ca.cert_pem)
    for name in ("broker-0", "bench"):
        issued = issue(ca, name, now)
        (pki / f"{name}.crt").write_bytes(issued.cert_pem)
        (pki / f"{name}.key").write_bytes(issued.key_pem)
    return pki


def _setups(pki: Path) -> dict[str, tuple[list[str], dict[str, str] | None, dict[str, Any]]]:
    """mode -> (broker flags, broker environment, client settings)."""
    tls = ["--tls-cert", str(pki / "broker-0.crt"), "--tls-key", str(pki / "broker-0.key"),
           "--tls-ca", str(pki / "ca.crt")]  # fmt: skip
    client_tls = {"security_protocol": "SSL", "ssl_ca_location": str(pki / "ca.crt")}
    mtls_sasl = {
        **client_tls, "security_protocol": "SASL_SSL", "sasl_username": "bench",
        "sasl_password": PASSWORD, "ssl_certificate_location": str(pki / "bench.crt"),
        "ssl_key_location": str(pki / "bench.key"),
    }  # fmt: skip
    return {
        "plaintext": ([], None, {}),
        "tls": (tls, None, client_tls),
        "mtls+sasl": (
            [
                *tls,
                "--tls-client-auth",
                "required",
                "--auth",
                "sasl",
                "--super-users",
                "User:bench",
            ],
            {**os.environ, "LOGD_BOOTSTRAP_USER": f"bench:{PASSWORD}"},
            mtls_sasl,
        ),
    }


def _once(
    root: Path, mode: str, setup: tuple[list[str], Any, dict[str, Any]], n: int
) -> dict[str, float]:
    flags, env, client = setup
    values = values_of(100)
    with LogdCluster(root / mode, 1, extra=flags, env=env, client=client) as cluster:
        topic = cluster.create_topic(1)
        seconds = produce_batch(cluster.brokers, topic, "all", values, n, **client)
        got, replay_s = replay(cluster.brokers, topic, n + 1, **client)
    return {"produce msgs/s": n / seconds, "replay msgs/s": got / replay_s}


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 300_000
    repeats = int(argv[1]) if len(argv) > 1 else 2
    runs: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="logd-tls-") as tmp:
        root = Path(tmp)
        setups = _setups(_pki(root))
        order = list(setups)
        for r in range(repeats):
            for mode in order if r % 2 == 0 else reversed(order):
                figures = _once(root / f"r{r}", mode, setups[mode], n)
                runs.setdefault(mode, []).append(figures)
                print(
                    f"{mode:10} " + "  ".join(f"{k} {v:,.0f}" for k, v in figures.items()),
                    flush=True,
                )
    medians = {m: {k: statistics.median(f[k] for f in fs) for k in fs[0]} for m, fs in runs.items()}
    print("\n| mode | produce msgs/s | ÷plaintext | replay msgs/s | ÷plaintext |")
    print("|---|---|---|---|---|")
    base = medians["plaintext"]
    for mode, m in medians.items():
        p, r = m["produce msgs/s"], m["replay msgs/s"]
        p_ratio, r_ratio = p / base["produce msgs/s"], r / base["replay msgs/s"]
        print(f"| {mode} | {p:,.0f} | {p_ratio:.2f} | {r:,.0f} | {r_ratio:.2f} |")
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"tls-{stamp}.json"
    out.write_text(
        json.dumps({"records": n, "repeats": repeats, "runs": runs, "medians": medians}, indent=1)
    )
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
