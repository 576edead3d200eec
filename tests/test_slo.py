"""The SLO table of harness/slo.py, its committed Prometheus rules and their ``promtool test rules`` tests."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from harness import slo
from holyfields.topology import Topology

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not found: `apt-get install -y prometheus` (./run bootstrap does it)"
)
#: PromQL functions / keywords / recording rule names: not metric names
_NOT_METRICS = {
    "sum",
    "rate",
    "increase",
    "by",
    "le",
    "on",
    "and",
    "or",
    "min",
    "deriv",
    "vector",
    "histogram_quantile",
}


def test_committed_rules_and_tests_match_the_table() -> None:
    assert slo.check() == []


def test_drift_is_reported_with_the_command_that_fixes_it(tmp_path, monkeypatch) -> None:
    stale = tmp_path / "rules.yml"
    stale.write_text(slo.render_rules().replace("< 0.995", "< 0.99", 1))
    monkeypatch.setattr(slo, "RULES_FILE", stale)
    monkeypatch.setattr(slo, "RULE_TESTS_FILE", tmp_path / "rules.test.yml")
    problems = slo.check()
    assert any("differs from harness/slo.py" in p and "harness slo rules --out" in p for p in problems)
    assert any("rules.test.yml is missing" in p for p in problems)


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    names = {s.alert for s in slo.alerts()}
    assert names == set(slo.CASES), "an alert without a promtool case, or a case without an alert"
    for name, case in slo.CASES.items():
        assert case.fires and case.quiet, name


def test_the_rules_name_only_metrics_the_table_declares() -> None:
    """Every metric a rule selects is a MetricNeed of its row (so the metrics contract checks it)."""
    for row in slo.alerts():
        text = " ".join(filter(None, (row.expr, row.condition())))
        text = re.sub(r'\{[^}]*\}|"[^"]*"|\[[^]]*\]', " ", text.format(queue="q", dlq="d", window="5m"))
        used = {
            word
            for word in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", text)
            if word not in _NOT_METRICS and ":" not in word
        }
        declared = {need.sample_name for need in row.needs}
        assert used <= declared, f"{row.alert}: {sorted(used - declared)} not in its needs"


def test_spec_rows_agree_with_the_load_verdict() -> None:
    """Where the load verdict judges an SLI of this table, it uses the same objective and alert level."""
    from load.thresholds import THRESHOLDS

    rows = {s.key: s for s in slo.SLOS}
    shared = set(rows) & set(THRESHOLDS)
    assert {"publish_success_rate", "storage_success_rate", "e2e_latency_p99_ms", "dlq_size"} <= shared
    for key in shared:
        row, threshold = rows[key], THRESHOLDS[key]
        assert (row.objective, row.alert_level, row.higher_is_better) == (
            threshold.slo,
            threshold.alert,
            threshold.higher_is_better,
        ), key


def test_the_reference_services_export_every_metric_of_the_table() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from reference_impl.bloodbank.metrics import Metrics as BloodbankMetrics
    from reference_impl.candystore.metrics import Metrics as CandystoreMetrics

    text = BloodbankMetrics(["a.b.v1"], broker_up=lambda: True).render().decode()
    text += CandystoreMetrics().render().decode()
    families = {f.name: f.type for f in text_string_to_metric_families(text)}
    for need in slo.SERVICE_METRICS:
        family = need.name.removesuffix("_total") if need.kind == "counter" else need.name
        assert families.get(family) == need.kind, need.name


def test_rules_follow_a_profile_topology() -> None:
    text = slo.render_rules(Topology(queue="team.store", dlq="team.dead"))
    assert 'queue=\\"team.store\\"' in text and 'queue=\\"team.dead\\"' in text
    assert "candystore.events" not in text.split("groups:", 1)[1]


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    out = subprocess.run(
        [PROMTOOL, "check", "rules", str(slo.RULES_FILE)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr


@needs_promtool
def test_promtool_unit_tests_fire_and_stay_quiet() -> None:
    out = subprocess.run(
        [PROMTOOL, "test", "rules", slo.RULE_TESTS_FILE.name],
        cwd=slo.RULE_TESTS_FILE.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr


@needs_promtool
def test_promtool_unit_tests_catch_a_wrong_threshold(tmp_path) -> None:
    """The cases can fail: the same tests against rules with a looser publish threshold do."""
    (tmp_path / slo.RULES_FILE.name).write_text(slo.render_rules().replace("< 0.995", "< 0.98", 1))
    (tmp_path / slo.RULE_TESTS_FILE.name).write_text(slo.render_rule_tests())
    out = subprocess.run(
        [PROMTOOL, "test", "rules", slo.RULE_TESTS_FILE.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0 and "PublishSuccessRateLow fires" in out.stdout + out.stderr


def test_a_time_scaled_rendering_shrinks_every_window_but_keeps_three_scrapes() -> None:
    fast = slo.render_rules(time_scale=0.02)
    assert "for: 5m" not in fast and "for: 6s" in fast and "for: 12s" in fast  # 5m, 10m
    assert "[5m]" not in fast and "[6s]" in fast and "[3s]" in fast  # 5m; 10s and 1m floor at 3 s
    assert fast.replace("[6s]", "[5m]").count("for:") == slo.render_rules().count("for:")
    assert slo.render_rules(time_scale=1.0) == slo.RULES_FILE.read_text()
