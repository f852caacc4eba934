"""A real browser against the Airflow UI: Debian's ``chromium`` driven by its ``chromedriver`` through selenium.

``chromium_driver`` starts headless Chromium in Seoul's time zone with a fresh profile and nothing that reaches
beyond this machine (no selenium-manager download, no component updates, no sync); ``wait_for_text`` waits until
the page's rendered text (``document.body.innerText``) holds a string: the checks read what a person reads, never
pixels; ``screenshot`` keeps a PNG of each step for a person to look at afterwards.

``check_airflow_ui`` walks Airflow 3.3's React UI as an operator would, against a cluster where setup, a daily run
and a retrain run have succeeded: the DAG list and tags, the daily DAG's docs, its trigger form (and a run started
from it), a green run, ``export_window``'s log and ``record_metrics``' extra link.

Without ``/usr/bin/chromium``, ``/usr/bin/chromedriver`` or selenium the browser tests skip and say why (``make
browser`` installs the first two), unless ``PULLA_REQUIRE_DB_SERVERS=1`` (CI), which fails them instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest

from tests.conftest import servers_required

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: The browser runs in Seoul's time zone: Airflow 3.3's UI shows times in the browser's zone.
BROWSER_TIME_ZONE = "Asia/Seoul"
CHROMIUM_ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1440,1000",
    "--lang=en-US",  # the UI follows the browser's language; the checks read its English texts
)
#: Seconds a page (an API-backed React view) gets to show what a check waits for.
PAGE_TIMEOUT = 30.0

#: dag id -> the tags its card in the DAG list shows.
DAG_TAGS = {
    "pulla_personalize_setup": ("personalize", "kind/setup", "impact/tier-2"),
    "pulla_personalize_daily": ("personalize", "kind/ingest", "impact/tier-1"),
    "pulla_personalize_retrain": ("personalize", "kind/training", "impact/tier-1"),
    "pulla_personalize_batch": ("personalize", "kind/crm", "impact/tier-2"),
    "pulla_personalize_segment": ("personalize", "kind/crm", "impact/tier-2"),
}
DAILY_DAG = "pulla_personalize_daily"
RETRAIN_DAG = "pulla_personalize_retrain"
#: The heading of the daily DAG's doc_md (``### …``), rendered as a heading by the Docs dialog.
DAILY_DOC_HEADING = "Pulla → Personalize: daily export and import"
#: The daily DAG's params: name -> (the form's title, the start of its description).
DAILY_PARAMS = {
    "window_start": ("Window start", "First local day (or date-time) to export"),
    "window_end": ("Window end", "First local day (or date-time) NOT exported"),
    "full_reload": ("Full reload", "Import every dataset in FULL mode"),
}
#: Lines ``export_window``'s log always has after a successful export (the summary it ends with).
EXPORT_LOG_LINES = ("Exported window", "Rows: interactions")
METRICS_LINK = "Metrics history chart"  # pulla_airflow.operators.MetricsChartLink.name


def artefacts_dir() -> Path:
    """Where the browser tests leave screenshots: ``$PULLA_TEST_ARTEFACTS/browser`` (the e2e tier's artefacts
    root, as ``tests/e2e/conftest.py`` reads it), by default ``<repo>/.test-artefacts/browser``."""
    root = os.environ.get("PULLA_TEST_ARTEFACTS") or REPO_ROOT / ".test-artefacts"
    return Path(root) / "browser"


def browser_missing() -> str | None:
    """Why no browser test can run here, or None."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        return f"{' and '.join(missing)} not installed (`make browser` installs Debian's chromium and chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed in this environment (`make install`)"
    return None


def require_browser() -> None:
    """Skips the calling test when the browser is missing; fails it instead under ``PULLA_REQUIRE_DB_SERVERS=1``."""
    reason = browser_missing()
    if reason is None:
        return
    if servers_required():
        pytest.fail(f"{reason} (PULLA_REQUIRE_DB_SERVERS=1)")
    pytest.skip(reason)


@contextlib.contextmanager
def chromium_driver(artefacts: Path) -> Iterator[WebDriver]:
    """Headless Debian Chromium through ``/usr/bin/chromedriver``, in Seoul's time zone, with a profile of its own
    that is removed afterwards; chromedriver's log goes to ``artefacts/chromedriver.log``."""
    require_browser()
    # Both paths are given, so selenium never runs selenium-manager; SE_OFFLINE keeps it offline if it ever did.
    os.environ.setdefault("SE_OFFLINE", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    artefacts.mkdir(parents=True, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="pulla-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (*CHROMIUM_ARGUMENTS, f"--user-data-dir={profile}"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
    service = Service(
        executable_path=CHROMEDRIVER,
        env={**os.environ, "TZ": BROWSER_TIME_ZONE},  # chromedriver hands its environment to chromium
        log_output=str(artefacts / "chromedriver.log"),
    )
    driver = None
    try:
        driver = webdriver.Chrome(service=service, options=options)
        driver.set_page_load_timeout(60)
        yield driver
    finally:
        if driver is not None:
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(driver: WebDriver, artefacts: Path, name: str) -> Path:
    """Saves what the browser shows as ``artefacts/<name>.png``."""
    artefacts.mkdir(parents=True, exist_ok=True)
    path = artefacts / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def rendered_text(driver: WebDriver, element: WebElement | None = None) -> str:
    """What the page (or the element) shows as text, as a person reads it: its ``innerText`` (laid out text,
    hidden elements left out), which the browser computes natively, far faster than WebDriver's element text."""
    return driver.execute_script("return (arguments[0] || document.body || {}).innerText || ''", element) or ""


def wait_for_text(
    driver: WebDriver, text: str, timeout: float = PAGE_TIMEOUT, *, element: WebElement | None = None
) -> str:
    """Waits until the rendered text of the page (or of ``element``) contains ``text``; returns that text.
    Raises AssertionError with what the page showed instead."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    def shows_text(_driver: Any) -> bool:
        try:
            return bool(
                driver.execute_script(
                    "const root = arguments[0] || document.body;return !!root && root.innerText.includes(arguments[1])",
                    element,
                    text,
                )
            )
        except StaleElementReferenceException:
            return False

    try:
        WebDriverWait(driver, timeout, poll_frequency=0.1).until(shows_text)
    except TimeoutException:
        try:
            seen = rendered_text(driver, element)
        except StaleElementReferenceException:
            seen = "(the element is gone) " + rendered_text(driver)
        raise AssertionError(
            f"{text!r} did not appear on {driver.current_url} within {timeout:g} s; it shows:\n{seen[-4000:]}"
        ) from None
    return rendered_text(driver, element)


def open_page(driver: WebDriver, base_url: str, path: str) -> None:
    """Opens ``path`` of the UI: once the UI is loaded, through its own router (as a click on a link does: no
    reload of the 7 MB bundle); before that, by loading the page."""
    url = base_url.rstrip("/") + path
    origin = driver.execute_script("return window.location.origin") if driver.current_url.startswith("http") else ""
    if origin and base_url.startswith(origin) and driver.execute_script("return !!document.querySelector('#root *')"):
        driver.execute_script(
            "window.history.pushState({}, '', arguments[0]);"
            "window.dispatchEvent(new PopStateEvent('popstate', {state: {}}));",
            url,
        )
    else:
        driver.get(url)


def wait_for_element(driver: WebDriver, by: str, selector: str, timeout: float = PAGE_TIMEOUT) -> WebElement:
    """Waits until an element is displayed; returns it. Raises AssertionError naming the selector."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.25).until(
            expected_conditions.visibility_of_element_located((by, selector))
        )
    except TimeoutException:
        raise AssertionError(
            f"no visible {selector!r} on {driver.current_url} within {timeout:g} s; it shows:\n"
            f"{rendered_text(driver)[-3000:]}"
        ) from None


def wait_for_gone(driver: WebDriver, by: str, selector: str, timeout: float = PAGE_TIMEOUT) -> None:
    """Waits until no such element is displayed (a dialog closed)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(driver, timeout, poll_frequency=0.1).until(
            expected_conditions.invisibility_of_element_located((by, selector))
        )
    except TimeoutException:
        raise AssertionError(f"{selector!r} still shows on {driver.current_url} after {timeout:g} s") from None


def click(driver: WebDriver, by: str, selector: str, timeout: float = PAGE_TIMEOUT) -> WebElement:
    """Waits until the element can be clicked, then clicks it."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        element = WebDriverWait(driver, timeout, poll_frequency=0.25).until(
            expected_conditions.element_to_be_clickable((by, selector))
        )
    except TimeoutException:
        raise AssertionError(f"no clickable {selector!r} on {driver.current_url} within {timeout:g} s") from None
    element.click()
    return element


def run_path(dag_id: str, run_id: str, *rest: str) -> str:
    """The UI's path of a DAG run (``/dags/<dag>/runs/<run>[/tasks/<task>[/details]]``), the run id encoded."""
    return "/".join((f"/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}", *rest)).rstrip("/")


@dataclass
class UiCheck:
    """What ``check_airflow_ui`` did: the run it started from the trigger form, and seconds per step."""

    triggered_run_id: str = ""
    triggered_conf: dict[str, Any] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)
    screenshots: list[Path] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return round(sum(self.step_seconds.values()), 1)

    def to_json(self) -> str:
        return json.dumps(
            {
                "seconds": self.seconds,
                "step_seconds": self.step_seconds,
                "triggered_run_id": self.triggered_run_id,
                "triggered_conf": self.triggered_conf,
                "screenshots": [path.name for path in self.screenshots],
            },
            indent=2,
        )


def check_airflow_ui(
    driver: WebDriver,
    base_url: str,
    artefacts: Path,
    daily_run_id: str,
    *,
    retrain_run_id: str | None = None,
    trigger_conf: Mapping[str, Any] | None = None,
) -> UiCheck:
    """Walks the Airflow UI at ``base_url`` (no login: every user is admin) and checks, by rendered text:

    1. ``/`` → the Dags page: every DAG with its tags, times in the browser's zone (+09:00);
    2. the daily DAG's "Dag Docs" dialog renders its doc_md (a heading, not ``###``);
    3. the daily trigger form shows each param's title and description; filled with ``trigger_conf`` (by default
       the conf of ``daily_run_id``, so the new run repeats a green one and adopts its import jobs) and submitted,
       it starts a run with that conf (checked through the REST API);
    4. run ``daily_run_id`` (successful) shows Success, in its header, in the grid's tooltip and for every task;
    5. its ``export_window`` log renders with the export's summary lines;
    6. ``record_metrics`` of ``retrain_run_id`` (default: the latest successful retrain run) shows the metrics-chart
       extra link, and the link opens the PNG.

    Saves a screenshot per step under ``artefacts`` (``NN-step.png``; ``NN-step-FAILED.png`` when it fails).
    Returns what it did; the run it started is left running.
    """
    from pulla_dev.airflow_cluster import ApiClient

    base_url = base_url.rstrip("/")
    api = ApiClient(base_url)
    result = UiCheck()
    for stale in artefacts.glob("[0-9][0-9]-*.png"):
        stale.unlink()

    @contextlib.contextmanager
    def step(name: str) -> Iterator[Callable[[str], None]]:
        """Times a step and screenshots its end; yields a function that screenshots a moment within it."""
        started = time.monotonic()
        shot = f"{len(result.step_seconds) + 1:02d}-{name}"

        def moment(label: str) -> None:
            result.screenshots.append(screenshot(driver, artefacts, f"{shot}-{label}"))

        try:
            yield moment
        except BaseException:
            with contextlib.suppress(Exception):  # a browser that died takes no screenshot: keep the first error
                result.screenshots.append(screenshot(driver, artefacts, f"{shot}-FAILED"))
            raise
        finally:
            result.step_seconds[name] = round(time.monotonic() - started, 2)
        result.screenshots.append(screenshot(driver, artefacts, shot))

    with step("dag-list"):
        _check_dag_list(driver, base_url)
    with step("dag-docs") as moment:
        _check_dag_docs(driver, base_url, moment)
    with step("trigger-form") as moment:
        if trigger_conf is None:
            trigger_conf = api.get(f"/api/v2/dags/{DAILY_DAG}/dagRuns/{quote(daily_run_id, safe='')}")["conf"] or {}
        result.triggered_conf = dict(trigger_conf)
        result.triggered_run_id = _trigger_from_form(driver, base_url, api, result.triggered_conf, moment)
    with step("green-run"):
        _check_green_run(driver, base_url, api, daily_run_id)
    with step("task-log"):
        open_page(driver, base_url, run_path(DAILY_DAG, daily_run_id, "tasks", "export_window"))
        for line in EXPORT_LOG_LINES:
            wait_for_text(driver, line)
    with step("extra-link") as moment:
        _check_metrics_link(driver, base_url, api, retrain_run_id, moment)
    return result


def _check_dag_list(driver: WebDriver, base_url: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base_url + "/")
    # The navigation shows the browser's UTC offset: the UI runs in Seoul's time zone.
    wait_for_text(driver, "+09:00")
    click(driver, By.CSS_SELECTOR, "nav a[href$='/dags'], a[href$='/dags'][aria-label='Dags']")
    wait_for_text(driver, f"{len(DAG_TAGS)} Dags")
    for dag_id, tags in DAG_TAGS.items():
        title = wait_for_element(driver, By.CSS_SELECTOR, f"a[href$='/dags/{dag_id}']")
        # The DAG's card: the nearest block around its title that also holds its "Schedule" column.
        card = title.find_element(By.XPATH, "./ancestor::div[.//*[normalize-space()='Schedule']][1]")
        text = wait_for_text(driver, dag_id, element=card)
        missing = [tag for tag in tags if tag not in text]
        assert not missing, f"the card of {dag_id} does not show the tags {missing}; it shows:\n{text}"


def _check_dag_docs(driver: WebDriver, base_url: str, moment: Callable[[str], None]) -> None:
    from selenium.webdriver.common.by import By

    open_page(driver, base_url, f"/dags/{DAILY_DAG}")
    click(driver, By.CSS_SELECTOR, "button[aria-label='Dag Docs']")
    dialog = wait_for_element(driver, By.XPATH, "//*[@role='dialog'][.//*[normalize-space()='Dag Documentation']]")
    wait_for_text(driver, DAILY_DOC_HEADING, element=dialog)
    headings = [
        rendered_text(driver, element).strip() for element in dialog.find_elements(By.CSS_SELECTOR, "h1, h2, h3")
    ]
    assert DAILY_DOC_HEADING in headings, f"the docs do not render {DAILY_DOC_HEADING!r} as a heading: {headings}"
    assert "### " not in rendered_text(driver, dialog), "the docs show raw Markdown"
    # A table of the doc_md renders as a table, its task names as code.
    assert dialog.find_elements(By.XPATH, ".//table//code[normalize-space()='export_window']"), "no task table"
    moment("dialog")
    click(driver, By.XPATH, "//*[@role='dialog']//button[@aria-label='Close']")
    wait_for_gone(driver, By.XPATH, "//*[@role='dialog'][.//*[normalize-space()='Dag Documentation']]")


def _trigger_from_form(
    driver: WebDriver, base_url: str, api: Any, conf: Mapping[str, Any], moment: Callable[[str], None]
) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    before = {run["dag_run_id"] for run in api.get(f"/api/v2/dags/{DAILY_DAG}/dagRuns", limit=100)["dag_runs"]}
    open_page(driver, base_url, f"/dags/{DAILY_DAG}")
    click(driver, By.CSS_SELECTOR, "button[aria-label='Trigger Dag']")
    dialog = wait_for_element(driver, By.XPATH, "//*[@role='dialog'][.//*[normalize-space()='Run Parameters']]")
    for name, (title, description) in DAILY_PARAMS.items():
        wait_for_text(driver, title, element=dialog)
        wait_for_text(driver, description, element=dialog)
        wait_for_element(driver, By.CSS_SELECTOR, f"[role='dialog'] input[name='element_{name}']")
    unknown = set(conf) - set(DAILY_PARAMS)
    assert not unknown, f"the form has no field for {sorted(unknown)}"
    for name, value in conf.items():
        field_input = dialog.find_element(By.CSS_SELECTOR, f"input[name='element_{name}']")
        if isinstance(value, bool):
            if field_input.is_selected() != value:  # a switch: its input is hidden, its label takes the click
                field_input.find_element(By.XPATH, "./ancestor::label[1]").click()
            assert field_input.is_selected() == value, f"the {name} switch did not turn {value}"
        else:
            field_input.send_keys(Keys.CONTROL, "a")
            field_input.send_keys(Keys.BACKSPACE)
            if value is not None:
                field_input.send_keys(str(value))
    moment("filled")
    click(driver, By.XPATH, "//*[@role='dialog']//button[normalize-space()='Trigger']")
    # The UI confirms and opens the new run's page.
    wait_for_text(driver, "Dag Run Triggered")
    WebDriverWait(driver, PAGE_TIMEOUT).until(lambda d: re.search(f"/dags/{DAILY_DAG}/runs/[^/]+$", d.current_url))
    new_runs = [
        run
        for run in api.get(f"/api/v2/dags/{DAILY_DAG}/dagRuns", limit=100)["dag_runs"]
        if run["dag_run_id"] not in before
    ]
    assert len(new_runs) == 1, f"the form started {len(new_runs)} runs: {new_runs}"
    run = new_runs[0]
    expected = {name: conf.get(name) for name in DAILY_PARAMS} | {"full_reload": bool(conf.get("full_reload"))}
    assert run["conf"] == expected, f"the run the form started has conf {run['conf']}, not {expected}"
    assert run["run_type"] == "manual", run
    wait_for_text(driver, run["dag_run_id"])
    return run["dag_run_id"]


def _check_green_run(driver: WebDriver, base_url: str, api: Any, run_id: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    instances = api.task_instances(DAILY_DAG, run_id)
    task_ids = sorted(instances)
    # A green run may skip a task (the deletion job when nobody departed): the table must show what the API says.
    expected = {task: str(item["state"]).title() for task, item in instances.items()}
    assert set(expected.values()) <= {"Success", "Skipped"}, expected
    open_page(driver, base_url, run_path(DAILY_DAG, run_id))
    # The run's header: its id as the heading, its state as a badge beside it.
    header = wait_for_element(driver, By.XPATH, f"//h2[normalize-space()='{run_id}']/..")
    badge = header.find_element(By.CSS_SELECTOR, "[data-testid='state-badge']")
    wait_for_text(driver, "Success", element=badge)
    # Every task instance of the run's table: one row per task, in the state the API gives.
    wait_for_text(driver, f"{len(task_ids)} Task Instances")
    rows = driver.execute_script(
        "return [...document.querySelectorAll('table tbody tr')]"
        ".map(row => [...row.querySelectorAll('td')].map(cell => cell.innerText.trim()))"
    )
    states = {}
    for cells in rows:
        task = next((cell for cell in cells if cell in task_ids), None)
        if task:
            states[task] = next((cell for cell in cells if cell in ("Success", "Skipped")), " / ".join(cells))
    assert states == expected, f"task states in the run's table: {states}"
    # The grid's bar of this run: its tooltip says the state.
    bar = wait_for_element(driver, By.CSS_SELECTOR, f"a[href$='/runs/{run_id}/']")
    ActionChains(driver).move_to_element(bar).perform()
    wait_for_text(driver, "State: Success")
    # The grid's cells of this run: one per task.
    cells = driver.find_elements(By.CSS_SELECTOR, f"a[data-testid^='grid-{run_id}-']")
    assert len(cells) == len(task_ids), f"{len(cells)} grid cells for {len(task_ids)} tasks"


def _check_metrics_link(
    driver: WebDriver, base_url: str, api: Any, run_id: str | None, moment: Callable[[str], None]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    if run_id is None:
        runs = api.get(f"/api/v2/dags/{RETRAIN_DAG}/dagRuns", state="success", order_by="-end_date", limit=1)
        assert runs["dag_runs"], f"no successful {RETRAIN_DAG} run to look at"
        run_id = runs["dag_runs"][0]["dag_run_id"]
    # Extra links are on the task instance's Details tab.
    open_page(driver, base_url, run_path(RETRAIN_DAG, run_id, "tasks", "record_metrics", "details"))
    wait_for_text(driver, "Extra Links")
    link = wait_for_element(driver, By.XPATH, f"//a[normalize-space()='{METRICS_LINK}']")
    href = link.get_attribute("href") or ""
    assert href.startswith(("http://", "https://")), f"the {METRICS_LINK!r} link points at {href!r}"
    assert ".png" in href, f"the {METRICS_LINK!r} link does not point at the chart: {href}"
    moment("details")
    driver.get(href)
    WebDriverWait(driver, PAGE_TIMEOUT).until(lambda d: d.execute_script("return document.readyState") == "complete")
    content_type = driver.execute_script("return document.contentType")
    assert content_type == "image/png", f"the {METRICS_LINK!r} link opens {content_type}, not the PNG chart: {href}"
