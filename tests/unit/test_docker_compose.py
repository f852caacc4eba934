"""docker-compose.yaml is checked by parsing it: no Docker engine runs where the tests run.

Every service, volume, env file, build context and bind mount it references must exist and agree with the
project.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pulla_personalize.cli import COMMANDS

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    with (REPO_ROOT / "docker-compose.yaml").open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def pinned_version(package: str) -> str:
    text = (REPO_ROOT / "requirements.txt").read_text(encoding="utf-8")
    match = re.search(rf"^{re.escape(package)}(\[[^\]]*\])?==(\S+)", text, flags=re.MULTILINE)
    assert match, f"{package} is not pinned in requirements.txt"
    return match.group(2)


def test_every_service_has_an_image_or_a_build_context(compose: dict) -> None:
    for name, service in compose["services"].items():
        assert "image" in service or "build" in service, name
        if "build" in service:
            context = service["build"] if isinstance(service["build"], str) else service["build"]["context"]
            assert (REPO_ROOT / context / "Dockerfile").is_file(), name


def test_depends_on_names_only_defined_services(compose: dict) -> None:
    services = set(compose["services"])
    for name, service in compose["services"].items():
        dependencies = service.get("depends_on", {})
        names = dependencies if isinstance(dependencies, list) else list(dependencies)
        assert set(names) <= services, f"{name} depends on undefined {set(names) - services}"
        assert name not in names


def test_volumes_are_declared_or_are_project_paths(compose: dict) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (REPO_ROOT / source).exists(), f"{name} mounts missing path {source}"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"


def test_env_files_exist_unless_optional(compose: dict) -> None:
    for name, service in compose["services"].items():
        for entry in service.get("env_file", []):
            if isinstance(entry, str):
                entry = {"path": entry}
            path = entry["path"]
            if entry.get("required", True):
                assert (REPO_ROOT / path).is_file(), f"{name}: env file {path} is missing"


def test_local_connections_point_at_the_compose_services(compose: dict) -> None:
    env_file = (REPO_ROOT / "include/config/local-services.env").read_text(encoding="utf-8")
    hosts = set(re.findall(r"https?://([a-z0-9-]+):\d+", env_file))
    hosts |= set(re.findall(r"@([a-z0-9-]+):\d+/", env_file))
    assert hosts, "no service URLs found in the local env file"
    assert hosts <= set(compose["services"]), f"unknown hosts {hosts - set(compose['services'])}"


def test_project_commands_run_by_services_exist(compose: dict) -> None:
    used = []
    for service in compose["services"].values():
        if service.get("entrypoint") == ["pulla-personalize"]:
            used.append(service["command"][0])
    assert used, "no service runs the pulla-personalize console script"
    assert set(used) <= set(COMMANDS), f"unknown subcommands {set(used) - set(COMMANDS)}"


def test_airflow_image_matches_the_pinned_airflow(compose: dict) -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")
    airflow = pinned_version("apache-airflow")
    assert f"FROM apache/airflow:{airflow}-python3.11" in dockerfile
    assert f'"apache-airflow=={airflow}"' in dockerfile


def test_paths_inside_containers_match_the_mounts(compose: dict) -> None:
    common = compose["services"]["airflow-scheduler"]
    mounts = {volume.split(":")[1] for volume in common["volumes"]}
    environment = common["environment"]
    assert environment["AIRFLOW__CORE__DAGS_FOLDER"] in mounts
    assert environment["AIRFLOW__CORE__PLUGINS_FOLDER"] in mounts


def test_the_local_bucket_is_the_configured_one(compose: dict) -> None:
    from pulla_personalize.pipeline_config import load_pipeline_config

    script = compose["services"]["s3-init"]["command"][0]
    assert f'Bucket="{load_pipeline_config().s3.bucket}"' in script
    assert "s3-init" in compose["services"]["airflow-worker"]["depends_on"]


def test_the_local_endpoint_state_lives_on_its_volume_in_a_folder_the_image_creates(compose: dict) -> None:
    service = compose["services"]["personalize-local"]
    data_dir = service["command"][service["command"].index("--data-dir") + 1]
    assert f"personalize-local:{data_dir}" in service["volumes"]
    assert f"mkdir -p {data_dir}" in (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")


def test_the_local_endpoint_is_not_published_beyond_loopback(compose: dict) -> None:
    """It checks no credentials: reachable on the compose network, never on the host's other interfaces."""
    service = compose["services"]["personalize-local"]
    port = service["command"][service["command"].index("--port") + 1]
    env_file = (REPO_ROOT / "include/config/local-services.env").read_text(encoding="utf-8")
    assert f"http://personalize-local:{port}" in env_file
    assert port in {str(exposed) for exposed in service.get("expose", [])}
    for mapping in service.get("ports", []):
        published = mapping if isinstance(mapping, str) else f"{mapping.get('host_ip', '')}:{mapping['published']}"
        assert published.startswith("127.0.0.1:"), f"personalize-local is published on {published}"


def airflow_environment(compose: dict) -> dict[str, str]:
    return {key: str(value) for key, value in compose["x-airflow-common"]["environment"].items()}


def test_compose_runs_the_settings_the_celery_e2e_run_tests(compose: dict) -> None:
    """The e2e tier's CeleryExecutor cluster and the compose file share these settings: neither may drift."""
    from pulla_dev.airflow_cluster import CELERY_SETTINGS

    environment = airflow_environment(compose)
    assert {key: environment.get(key) for key in CELERY_SETTINGS} == CELERY_SETTINGS
    # Redis is broker and result backend in both (the e2e run points them at 127.0.0.1:6379).
    assert environment["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    assert environment["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("redis://")


def test_compose_runs_the_component_commands_the_celery_e2e_run_tests(compose: dict) -> None:
    from pulla_dev.airflow_cluster import CELERY_COMMANDS, AirflowCluster

    commands = {
        name: service["command"].split() if isinstance(service["command"], str) else service["command"]
        for name, service in compose["services"].items()
        if name.startswith("airflow-") and name != "airflow-init"
    }
    assert commands == CELERY_COMMANDS
    cluster = AirflowCluster(
        home=Path("unused"), database_url="sqlite:///unused", executor="CeleryExecutor", broker_url="redis://x"
    )
    started = cluster.commands()
    # What the e2e run starts is the compose command, plus its own queue and concurrency for the worker.
    assert {f"airflow-{name}": args[: len(CELERY_COMMANDS[f"airflow-{name}"])] for name, args in started.items()} == (
        CELERY_COMMANDS
    )
    assert started["worker"][2:] == ["--queues", cluster.queue, "--concurrency", str(cluster.parallelism)]


def test_the_celery_provider_is_pinned_with_airflow(compose: dict) -> None:
    assert pinned_version("apache-airflow-providers-celery")


def test_the_init_service_runs_airflow_db_migrate_through_the_images_entrypoint(compose: dict) -> None:
    init = compose["services"]["airflow-init"]
    assert "entrypoint" not in init  # the image's entrypoint waits for the database, then runs the command
    assert init["command"] == ["airflow", "db", "migrate"]
    for name, service in compose["services"].items():
        if name.startswith("airflow-") and name != "airflow-init":
            assert service["depends_on"]["airflow-init"] == {"condition": "service_completed_successfully"}, name


def test_no_service_sets_entrypoint_switches_its_entrypoint_would_ignore(compose: dict) -> None:
    """The image's _AIRFLOW_* switches act only in its own entrypoint: with another one they silently do nothing."""
    for name, service in compose["services"].items():
        if "entrypoint" in service:
            switches = [key for key in service.get("environment", {}) if key.startswith("_AIRFLOW_")]
            assert not switches, f"{name} replaces the image's entrypoint, so {switches} do nothing"


README_TEXT = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def readme_compose_section() -> str:
    start = README_TEXT.index("## docker-compose\n")
    return README_TEXT[start : README_TEXT.index("\n## ", start + 1)]


def test_the_readme_states_the_compose_version_the_env_file_form_needs(compose: dict) -> None:
    entries = [entry for service in compose["services"].values() for entry in service.get("env_file", [])]
    if any(isinstance(entry, dict) for entry in entries):  # the path/required form: Compose v2.24 and later
        assert "Docker Compose v2.24 or newer" in readme_compose_section()
        assert "Compose v2.24 or newer" in (REPO_ROOT / "docker-compose.yaml").read_text(encoding="utf-8")


def test_the_readme_says_how_to_build_start_trigger_watch_stop_and_reset() -> None:
    section = readme_compose_section()
    for command in (
        "docker compose build",
        "docker compose up -d",
        "docker compose exec airflow-apiserver airflow dags trigger pulla_personalize_daily",
        "docker compose logs -f",
        "docker compose down",
        "docker compose down -v",
    ):
        assert re.search(rf"^{re.escape(command)}(\s|$)", section, flags=re.MULTILINE), command


def test_the_readme_compose_commands_name_services_and_dags_that_exist(compose: dict) -> None:
    section = readme_compose_section()
    services = set(compose["services"])
    named = re.findall(r"docker compose (?:exec|logs(?: -f)?|run --rm) ((?:[a-z0-9-]+ ?)+)", section)
    assert named
    for names in named:
        for name in names.split():
            if name in ("airflow", "grep"):
                break  # the command run inside the container starts here
            assert name in services, f"the README names an unknown compose service {name}"
    dag_ids = {path.stem for path in (REPO_ROOT / "dags").glob("pulla_personalize_*.py")}
    used = set(re.findall(r"airflow dags \w[\w-]* (pulla_personalize_\w+)", section))
    assert used
    assert used <= dag_ids, used - dag_ids
    # The demo window the README triggers is the one the compose seed fills by default.
    seed = compose["services"]["pulla-db-seed"]["command"]
    assert "${PULLA_DEMO_END_DATE:-2026-11-01}" in seed
    assert '"window_start": "2026-10-02", "window_end": "2026-11-01"' in section
