"""The benchmark table (bench.suite.table) tells how to read each figure: no ratio for the latency
of a burst (queueing, which restates the rate), † where the load generator was above 90% CPU,
‡ where a server fell behind a paced load, and server CPU compared per unit of work."""

from __future__ import annotations

from bench.suite import SCENARIOS, Medians, run_problem, table


def rows(markdown: str) -> dict[tuple[str, str], list[str]]:
    """(scenario, metric) -> the cells after them."""
    out = {}
    for line in markdown.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        out[cells[0], cells[2]] = cells[3:]
    return out


def figures(**values: float) -> dict[str, float | None]:
    return dict(values)


def test_burst_latency_has_no_ratio_and_a_bound_generator_is_marked() -> None:
    medians: Medians = {
        "fanout-100": {
            "roomcast": figures(
                delivered_per_s=1000, p50_ms=1, p99_ms=2, server_cpu=1.0, loadgen_cpu=0.5
            ),
            "relay": figures(
                delivered_per_s=500, p50_ms=2, p99_ms=4, server_cpu=1.0, loadgen_cpu=0.95
            ),
        },
        "oneshot-100": {
            "roomcast": figures(
                delivered_per_s=100,
                p50_ms=1,
                p99_ms=2,
                reach_all_p50_ms=2,
                reach_all_p99_ms=4,
                server_cpu=0.2,
                loadgen_cpu=0.5,
            ),
            "relay": figures(
                delivered_per_s=100,
                p50_ms=2,
                p99_ms=2,
                reach_all_p50_ms=4,
                reach_all_p99_ms=4,
                server_cpu=0.4,
                loadgen_cpu=0.5,
            ),
        },
    }
    got = rows(table(medians, ["roomcast", "relay"]))
    assert got["fanout-100", "delivered_per_s"] == ["1,000", "500 †", "2.00x †"]
    assert got["fanout-100", "p50_ms"] == ["1.00", "2.00 †", "(queueing)"]
    assert got["fanout-100", "p99_ms"][-1] == "(queueing)"
    assert got["fanout-100", "cpu: server / loadgen"] == ["1.00 / 0.50", "1.00 / 0.95 †", "2.00x †"]
    # one broadcast at a time: latency is the evidence, with its ratio
    assert got["oneshot-100", "p50_ms"] == ["1.00", "2.00", "2.00x"]
    assert got["oneshot-100", "reach_all_p99_ms"] == ["4.00", "4.00", "1.00x"]
    assert got["oneshot-100", "cpu: server / loadgen"][-1] == "2.00x"


def test_a_server_that_fell_behind_a_paced_load_is_marked() -> None:
    chat = {"cpu_ms_per_1k": 10, "server_rss_mib": 50, "loadgen_cpu": 0.2}
    medians: Medians = {
        "chat-10000": {
            "roomcast": figures(
                delivered_per_s=1000, offered_per_s=1000, p50_ms=1, p99_ms=2, server_cpu=0.1, **chat
            ),
            "pysio": figures(
                delivered_per_s=900,
                offered_per_s=1000,
                p50_ms=900,
                p99_ms=2000,
                server_cpu=1.0,
                **chat,
            ),
        }
    }
    got = rows(table(medians, ["roomcast", "pysio"]))
    assert got["chat-10000", "delivered_per_s"] == ["1,000", "900 ‡", "1.11x ‡"]
    assert got["chat-10000", "p50_ms"] == ["1.00", "900.0 ‡", "900.00x ‡"]


def test_a_server_that_delivered_nothing_of_a_paced_load_is_a_figure_but_in_a_smoke_run() -> None:
    chat = next(s for s in SCENARIOS if s.name == "chat-10000")
    collapsed = {
        "delivered_per_s": 0,
        "offered_per_s": 2000.0,
        "server_rss_mib": 385.0,
        "server_cpu": 1.0,
        "loadgen_cpu": 0.15,
    }  # no latency, no CPU per delivery: nothing arrived in the window
    assert run_problem(chat, collapsed, "full") is None
    assert run_problem(chat, collapsed, "smoke") == "no cpu_ms_per_1k, p50_ms, p99_ms"
    kept_up = {**collapsed, "delivered_per_s": 2000.0}  # kept up, yet no latency: broken
    assert run_problem(chat, kept_up, "full") == "no cpu_ms_per_1k, p50_ms, p99_ms"
    whole = {**kept_up, "cpu_ms_per_1k": 30.0, "p50_ms": 1.0, "p99_ms": 9.0}
    assert run_problem(chat, whole, "full") is None
