"""The Airflow-free logic of the provider: names, import mode, back-off, the deploy gate and schema comparison."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest

from personalize_provider.gate import DEFAULT_MIN_RATIOS, decide_deployment, validate_min_ratios
from personalize_provider.naming import NAME_PATTERN, validate_resource_name, with_attempt
from personalize_provider.policy import effective_import_mode, limit_backoff_seconds, validate_training_mode
from personalize_provider.schemas import load_schema, next_schema_name, schema_differences, schema_text

NDCG = "normalized_discounted_cumulative_gain_at_25"
PRECISION = "precision_at_25"
START = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
END = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)


class TestResourceNames:
    def test_later_attempts_get_a_suffix(self) -> None:
        assert with_attempt("manual-job", 2) == "manual-job-r2"
        assert with_attempt("manual-job", 12) == "manual-job-r12"

    def test_a_later_attempt_of_a_63_character_name_still_fits(self) -> None:
        name = "p" * 63
        assert with_attempt(name, 2) == "p" * 60 + "-r2"
        assert NAME_PATTERN.match(with_attempt(name, 2))

    @pytest.mark.parametrize("name", ["", "-starts-with-dash", "has space", "x" * 64, "ünïcode"])
    def test_invalid_resource_names(self, name: str) -> None:
        with pytest.raises(ValueError, match="job_name"):
            validate_resource_name(name, field="job_name")


class TestPolicy:
    @pytest.mark.parametrize(
        ("requested", "history", "expected"),
        [
            pytest.param("INCREMENTAL", [], "FULL", id="never-imported"),
            pytest.param("INCREMENTAL", ["CREATE FAILED", "CREATE IN_PROGRESS"], "FULL", id="no-successful-import"),
            pytest.param("INCREMENTAL", ["CREATE FAILED", "ACTIVE"], "INCREMENTAL", id="had-a-bulk-import"),
            pytest.param("full", ["ACTIVE"], "FULL", id="full-stays-full"),
            pytest.param("incremental", ["ACTIVE"], "INCREMENTAL", id="case-insensitive"),
        ],
    )
    def test_effective_import_mode(self, requested: str, history: list[str], expected: str) -> None:
        assert effective_import_mode(requested, history) == expected

    def test_unknown_import_mode(self) -> None:
        with pytest.raises(ValueError, match="import_mode"):
            effective_import_mode("APPEND", [])

    def test_training_modes(self) -> None:
        assert validate_training_mode("update") == "UPDATE"
        with pytest.raises(ValueError, match="training_mode"):
            validate_training_mode("AUTOTRAIN")

    def test_backoff_doubles_then_caps(self) -> None:
        delays = [limit_backoff_seconds(n, base_seconds=300, max_seconds=1800) for n in range(1, 6)]
        assert delays == [300, 600, 1200, 1800, 1800]

    def test_backoff_counts_from_one(self) -> None:
        with pytest.raises(ValueError, match="from 1"):
            limit_backoff_seconds(0, base_seconds=1, max_seconds=1)


LIVE = {NDCG: 0.40, PRECISION: 0.10, "coverage": 0.5}


class TestGate:
    @pytest.mark.parametrize(
        ("new", "deploy", "reason_part"),
        [
            pytest.param({NDCG: 0.40, PRECISION: 0.10}, True, "deploy:", id="equal"),
            pytest.param({NDCG: 0.392, PRECISION: 0.098}, True, "deploy:", id="exactly-98-percent"),
            pytest.param({NDCG: 0.50, PRECISION: 0.20}, True, "deploy:", id="better"),
            pytest.param({NDCG: 0.3919, PRECISION: 0.10}, False, NDCG, id="ndcg-just-below"),
            pytest.param({NDCG: 0.40, PRECISION: 0.0979}, False, PRECISION, id="precision-just-below"),
            pytest.param({PRECISION: 0.2}, False, f"new version has no usable {NDCG}", id="new-missing-metric"),
            pytest.param({NDCG: math.nan, PRECISION: 0.2}, False, "no usable", id="new-nan"),
        ],
    )
    def test_default_rule(self, new: dict[str, float], deploy: bool, reason_part: str) -> None:
        decision = decide_deployment(new, LIVE)
        assert decision.deploy is deploy
        assert reason_part in decision.reason
        assert decision.new_metrics == new
        assert decision.live_metrics == LIVE
        assert decision.min_ratios == DEFAULT_MIN_RATIOS

    def test_nothing_live_always_deploys(self) -> None:
        decision = decide_deployment({NDCG: 0.0}, None)
        assert decision.deploy is True
        assert "nothing is live" in decision.reason

    def test_live_version_without_the_metric_keeps(self) -> None:
        decision = decide_deployment({NDCG: 0.5, PRECISION: 0.5}, {PRECISION: 0.1})
        assert decision.deploy is False
        assert f"live version has no usable {NDCG}" in decision.reason

    def test_configurable_rule(self) -> None:
        rule = {"coverage": 1.0}
        assert decide_deployment({"coverage": 0.5}, LIVE, rule).deploy is True
        assert decide_deployment({"coverage": 0.49}, LIVE, rule).deploy is False
        # The default rule's metrics no longer matter.
        assert decide_deployment({"coverage": 0.6, NDCG: 0.0}, LIVE, rule).deploy is True

    def test_result_is_json_serializable(self) -> None:
        result = decide_deployment({NDCG: 0.5, PRECISION: 0.5}, LIVE).as_dict()
        assert json.loads(json.dumps(result)) == result
        assert set(result) == {"deploy", "reason", "new_metrics", "live_metrics", "min_ratios"}

    @pytest.mark.parametrize("rule", [{}, {NDCG: 0}, {NDCG: -1}, {NDCG: "high"}, {"": 0.9}, {NDCG: True}])
    def test_invalid_rules(self, rule: dict) -> None:
        with pytest.raises(ValueError, match="min_ratios"):
            validate_min_ratios(rule)


SCHEMA_V1 = {
    "type": "record",
    "name": "Users",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [{"name": "USER_ID", "type": "string"}, {"name": "AGE", "type": ["null", "int"]}],
    "version": "1.0",
}


class TestSchemas:
    def test_same_content_in_any_form_has_no_differences(self, tmp_path) -> None:
        path = tmp_path / "users.json"
        path.write_text(json.dumps(SCHEMA_V1, indent=2))
        for loaded in (load_schema(SCHEMA_V1), load_schema(schema_text(SCHEMA_V1)), load_schema(schema_path=path)):
            assert schema_differences(loaded, SCHEMA_V1) == []

    def test_differences_name_the_fields(self) -> None:
        changed = json.loads(json.dumps(SCHEMA_V1))
        changed["fields"][1]["type"] = "int"
        changed["fields"].append({"name": "CUP_SIZE", "type": "string", "categorical": True})
        differences = schema_differences(SCHEMA_V1, changed)
        assert "field CUP_SIZE is new" in differences
        assert any(d.startswith("field AGE changed") for d in differences)

    def test_field_order_matters(self) -> None:
        reordered = dict(SCHEMA_V1, fields=list(reversed(SCHEMA_V1["fields"])))
        assert schema_differences(SCHEMA_V1, reordered) == ["field order changed (CSV columns must follow it)"]

    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("pulla-users-v1", "pulla-users-v2"),
            ("pulla_users_v9", "pulla_users_v10"),
            ("pulla-users", "pulla-users-v2"),
        ],
    )
    def test_next_schema_name(self, name: str, expected: str) -> None:
        assert next_schema_name(name) == expected

    def test_bad_schema_input_names_the_source(self, tmp_path) -> None:
        bad = tmp_path / "items.json"
        bad.write_text("{not json")
        with pytest.raises(ValueError, match=r"items\.json is not valid JSON"):
            load_schema(schema_path=bad)
        with pytest.raises(ValueError, match="exactly one"):
            load_schema()
        with pytest.raises(ValueError, match="JSON object"):
            load_schema("[1, 2]")
