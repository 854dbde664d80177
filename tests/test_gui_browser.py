"""The GUI end to end: ``nwb-dicpop gui`` served, driven in headless Chromium through Selenium.

The browser is the system's Chromium (``/usr/bin/chromium`` with ``/usr/bin/chromedriver``;
Debian packages ``chromium`` and ``chromium-driver``); nothing is downloaded.  The fast tests
(page served locally only, corrupt upload, cancel, two tabs, neuromodulation between two files)
run by default; the flows on the demo recording (inference, population, members,
neuromodulation by epochs and by windows, the DIC trajectory, validated inference, export) are
slow.

With ``NWB_DICPOP_SCREENSHOTS=DIR`` the slow flow also saves its screenshots of the main views
as ``DIR/gui_*.png`` (the guide's images: ``NWB_DICPOP_SCREENSHOTS=docs/images``).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path
from urllib.parse import urlparse

import pytest

pytest.importorskip("nicegui")
pytest.importorskip("selenium")

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
                allow_module_level=True)

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

LOCAL_HOSTS = {"127.0.0.1", "localhost"}


# --------------------------------------------------------------------------- server and browser
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GuiServer:
    """``nwb-dicpop gui --no-browser`` in a subprocess."""

    def __init__(self, tmp: Path, *extra: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = tmp / f"server-{self.port}.log"
        # NiceGUI takes a process with PYTEST_* variables for its own test harness: hide them
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        env |= {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nwb_dicpop.cli", "gui", "--no-browser", "--port", str(self.port), *extra],
            stdout=self.log.open("w"), stderr=subprocess.STDOUT, env=env, cwd=tmp,
        )
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if self.process.poll() is not None:
                pytest.fail(f"the GUI server exited: {self.log.read_text()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        pytest.fail(f"the GUI server did not answer in 60 s: {self.log.read_text()}")

    @property
    def folder(self) -> Path:
        """The server's temporary folder, as it prints it."""
        text = self.log.read_text()
        return Path(text.split("uploads go to ", 1)[1].split(",", 1)[0])

    def serves(self) -> bool:
        with urllib.request.urlopen(self.url, timeout=5) as response:
            return response.status == 200 and b"nwb-dicpop" in response.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    gui = GuiServer(tmp_path_factory.mktemp("gui"), "--max-upload-mb", "5")
    yield gui
    gui.stop()


def _browser(downloads: Path) -> webdriver.Chrome:
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium fetch a driver or a browser
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 "--disable-sync", "--disable-default-apps"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    return driver


@pytest.fixture
def browser(tmp_path):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver = _browser(downloads)
    driver.downloads = downloads
    yield driver
    driver.quit()


def _find(driver, css: str, timeout: float = 30):
    return WebDriverWait(driver, timeout).until(lambda d: d.find_element(By.CSS_SELECTOR, css))


def _click(driver, css: str, timeout: float = 30) -> None:
    element = WebDriverWait(driver, timeout).until(
        lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()), None))
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", element)


def _type(driver, css: str, text: str) -> None:
    field = _find(driver, f"{css} input")
    field.send_keys(Keys.CONTROL, "a")  # clear() does not reach the page's model of the field
    field.send_keys(Keys.BACKSPACE)
    field.send_keys(text)


def _text(driver, css: str, timeout: float = 60, contains: str = "") -> str:
    def ready(d):
        for element in d.find_elements(By.CSS_SELECTOR, css):
            if element.is_displayed() and element.text.strip() and contains in element.text:
                return element.text
        return None
    return WebDriverWait(driver, timeout).until(ready)


def _open(driver, url: str) -> None:
    driver.get(url)
    _find(driver, ".ndp-load-demo")


def _requested_urls(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] in ("Network.requestWillBeSent", "Network.webSocketCreated"):
            params = message["params"]
            urls.append(params["request"]["url"] if "request" in params else params["url"])
    return urls


def _off_machine(urls: list[str]) -> list[str]:
    return [u for u in urls if urlparse(u).scheme not in ("data", "blob", "about")
            and urlparse(u).hostname not in LOCAL_HOSTS]


def _download(driver, name: str, timeout: float = 60) -> Path:
    target = driver.downloads / name
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if target.exists() and not any(driver.downloads.glob("*.crdownload")):
            return target
        time.sleep(0.2)
    pytest.fail(f"{name} was not downloaded; downloads: {sorted(p.name for p in driver.downloads.iterdir())}")


def _click_text(driver, css: str, text: str) -> None:
    """Click the button inside ``css`` whose text reads ``text`` (any case: Quasar shows capitals)."""
    def button(d):
        for element in d.find_elements(By.CSS_SELECTOR, f"{css} button"):
            if element.is_displayed() and element.text.strip().lower() == text.lower():
                return element
        return None
    element = WebDriverWait(driver, 30).until(button)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", element)


def _headers(driver, css: str) -> list[str]:
    """The column headers of the table ``css``, as shown."""
    _find(driver, f"{css} th")
    return [th.text.strip() for th in driver.find_elements(By.CSS_SELECTOR, f"{css} th")]


def _load_demo(driver, url: str) -> None:
    _open(driver, url)
    _click(driver, ".ndp-load-demo")
    assert "8 units" in _text(driver, ".ndp-status", contains="demo", timeout=240)


def _shoot(driver, name: str, at: str | None = None) -> None:
    """Save a screenshot of the page from its top (or from the element ``at``) when asked to."""
    folder = os.environ.get("NWB_DICPOP_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        if at is None:
            driver.execute_script("window.scrollTo(0, 0);")
        else:
            element = _find(driver, at)
            driver.execute_script("arguments[0].scrollIntoView({block: 'start'}); window.scrollBy(0, -80);",
                                  element)
        driver.execute_script("document.activeElement && document.activeElement.blur();")  # no text cursor
        time.sleep(0.5)  # let the last figure settle
        driver.save_screenshot(str(Path(folder) / f"gui_{name}.png"))


# --------------------------------------------------------------------------- fast tests
def test_the_page_requests_nothing_off_this_machine(server, browser):
    _open(browser, server.url)
    for tab in ("units", "infer", "population", "neuromodulation", "export", "data"):
        _click(browser, f".ndp-tab-{tab}")
    time.sleep(1.0)
    urls = _requested_urls(browser)
    assert any(urlparse(u).path.startswith("/_nicegui/") for u in urls), urls  # the log did record the page
    assert _off_machine(urls) == []


def test_a_corrupt_upload_shows_an_error_and_the_server_keeps_serving(server, browser, tmp_path):
    corrupt = tmp_path / "broken.nwb"
    corrupt.write_bytes(b"this is not an HDF5 file\x00\x01" * 40)
    _open(browser, server.url)
    _find(browser, ".ndp-upload input[type=file]").send_keys(str(corrupt))
    message = _text(browser, ".ndp-error", timeout=90)
    assert "broken.nwb" in message or "HDF5" in message or "NWB" in message, message
    assert "Traceback" not in message
    assert server.serves()
    _open(browser, server.url)  # a new page still builds
    assert _text(browser, ".ndp-status") == "No recording open."


def test_an_upload_over_the_limit_is_refused(server, browser, tmp_path):
    big = tmp_path / "big.csv"
    big.write_bytes(b"0,0.1\n" * (6 * 1024 * 1024 // 6 + 10))  # just over the server's 5 MB limit
    _open(browser, server.url)
    _find(browser, ".ndp-upload input[type=file]").send_keys(str(big))
    assert "5 MB" in _text(browser, ".ndp-error", timeout=30)
    assert not list(server.folder.rglob("big.csv"))


def test_two_tabs_keep_their_own_recordings_and_a_job_can_be_cancelled(server, browser, tmp_path):
    table = tmp_path / "units.csv"
    rows = [(unit, round(0.1 * k + 0.01 * unit, 4)) for unit in (1, 2) for k in range(40)]
    table.write_text("unit_id,spike_time\n" + "".join(f"{u},{t}\n" for u, t in rows))
    _open(browser, server.url)
    first = browser.current_window_handle
    _type(browser, ".ndp-path", str(table))
    _click(browser, ".ndp-open")
    assert "2 units" in _text(browser, ".ndp-status", contains="units.csv", timeout=90)
    browser.switch_to.new_window("tab")
    _open(browser, server.url)
    assert _text(browser, ".ndp-status") == "No recording open."
    _click(browser, ".ndp-load-demo")
    _text(browser, ".ndp-job-label", contains="demo")
    _click(browser, ".ndp-cancel")
    WebDriverWait(browser, 10).until(lambda d: not d.find_element(By.CSS_SELECTOR, ".ndp-job").is_displayed())
    assert _text(browser, ".ndp-status") == "No recording open."
    browser.switch_to.window(first)
    assert "units.csv: 2 units" in _text(browser, ".ndp-status")
    assert server.serves()


def _write_table(path: Path, unit: int, times) -> None:
    path.write_text("unit_id,spike_time\n" + "".join(f"{unit},{t:.5f}\n" for t in times))


def test_neuromodulation_between_two_files(server, browser, tmp_path):
    import numpy as np

    before, after = tmp_path / "control.csv", tmp_path / "drug.csv"
    _write_table(before, 3, np.arange(0.05, 4.0, 0.1))  # tonic, 10 Hz
    bursts = [onset + 0.012 * k for onset in np.arange(0.1, 4.0, 0.5) for k in range(5)]
    _write_table(after, 5, bursts)  # bursts of 5 spikes at 2 Hz
    _open(browser, server.url)
    _type(browser, ".ndp-path", str(before))
    _click(browser, ".ndp-open")
    assert "1 unit " in _text(browser, ".ndp-status", contains="control.csv", timeout=90)

    _click(browser, ".ndp-tab-neuromodulation")
    _click_text(browser, ".ndp-nm-mode", "two files")
    _click(browser, ".ndp-run-nm")
    assert "path of the second file" in _text(browser, ".ndp-error")
    _type(browser, ".ndp-nm-file", str(after))
    _type(browser, ".ndp-nm-file-unit", "9")
    _click(browser, ".ndp-run-nm")
    assert "Unit '9' is not in drug.csv; its units are 5." in _text(browser, ".ndp-error", timeout=90,
                                                                      contains="drug.csv")
    _type(browser, ".ndp-nm-file-unit", "5")
    _type(browser, ".ndp-nm-n-models", "20")
    _click(browser, ".ndp-nm-validate")  # off: the DIC evidence only, quick
    _click(browser, ".ndp-run-nm")
    verdict = _text(browser, ".ndp-verdict", timeout=180)
    assert any(word in verdict for word in ("Most plausible", "No detectable change", "equally well")), verdict
    windows = _text(browser, ".ndp-nm-windows")
    assert windows.startswith("Before: 0 to "), windows  # each file's own times
    assert "; after: 0 to " in windows
    assert windows.endswith("20 models, without simulations.")
    headers = _headers(browser, ".ndp-ranking")
    assert "changed conductances" in headers
    assert "reproduced fraction (simulated)" not in headers  # not validated
    detectable = verdict.startswith(("Most plausible", "2 subsets", "3 subsets"))
    assert ("rank" in headers) == detectable
    said = "No rank: the change is not detectable" in _find(browser, ".ndp-ranking").text
    assert said == (not detectable)
    _find(browser, ".ndp-figure-ranking img")
    assert _off_machine(_requested_urls(browser)) == []


# --------------------------------------------------------------------------- the whole flow
@pytest.mark.slow
def test_demo_inference_population_neuromodulation_and_export(server, browser):
    import nwb_dicpop as ndp

    _open(browser, server.url)
    _shoot(browser, "data")
    _click(browser, ".ndp-load-demo")
    assert "8 units" in _text(browser, ".ndp-status", contains="demo", timeout=240)
    _find(browser, ".ndp-stats")
    _find(browser, ".ndp-figure-isi_unit_0 img")
    _shoot(browser, "units")

    _click(browser, ".ndp-tab-infer")
    _type(browser, ".ndp-n-models", "10")
    _click(browser, ".ndp-validate")  # off: populations without simulation, fast
    _click(browser, ".ndp-run-infer")
    _find(browser, ".ndp-summary", timeout=240)
    _find(browser, ".ndp-figure-dics img", timeout=30)
    assert _text(browser, ".ndp-ood")
    _shoot(browser, "infer")

    _click(browser, ".ndp-tab-population")
    _find(browser, ".ndp-figure-population_unit_0 img", timeout=60)
    _find(browser, ".ndp-figure-scatter_unit_0 img", timeout=60)
    _type(browser, ".ndp-members", "0, 1")
    _click(browser, ".ndp-simulate")
    _find(browser, ".ndp-scores", timeout=240)
    _find(browser, ".ndp-figure-members_voltage_unit_0 img", timeout=30)
    assert "fires like the unit" in _headers(browser, ".ndp-scores")
    _shoot(browser, "population")
    _shoot(browser, "members", at=".ndp-simulate")

    _click(browser, ".ndp-tab-neuromodulation")
    _type(browser, ".ndp-nm-n-models", "50")
    _click(browser, ".ndp-run-nm")  # the demo's first modulated unit, by epochs, validated (the defaults)
    verdict = _text(browser, ".ndp-verdict", timeout=300)
    # the demo's modulation changes the firing class: validated, the change is detectable
    assert verdict.startswith(("Most plausible change", "2 subsets", "3 subsets")), verdict
    assert "with simulations" in _text(browser, ".ndp-nm-windows")
    _find(browser, ".ndp-figure-ranking img", timeout=30)
    headers = _headers(browser, ".ndp-ranking")
    assert {"rank", "reproduced fraction (simulated)"} <= set(headers), headers
    first_rank = browser.find_elements(By.CSS_SELECTOR, ".ndp-ranking tbody tr")[0].text
    assert first_rank.split()[1] == "1", first_rank  # the leading subset has rank 1, not an empty cell
    _shoot(browser, "neuromodulation")

    _click(browser, ".ndp-tab-export")
    _shoot(browser, "export")
    _click(browser, ".ndp-export-csv")
    with _download(browser, "populations.csv").open() as handle:
        table = list(csv.DictReader(handle))
    assert {"unit_id", "member", "g_Na", "g_H", "dic_g_s", "dic_g_u"} <= set(table[0])
    _click(browser, ".ndp-export-summary")
    with _download(browser, "units_dics.csv").open() as handle:
        summary = {row["unit_id"]: int(row["n_models"]) for row in csv.DictReader(handle)}
    assert len(summary) == 8
    assert all(5 <= n <= 10 for n in summary.values()), summary  # members the compensation could solve
    assert {uid: sum(row["unit_id"] == uid for row in table) for uid in summary} == summary
    _click(browser, ".ndp-export-figures")
    with zipfile.ZipFile(_download(browser, "figures.zip")) as archive:
        names = set(archive.namelist())
    assert {"dics.png", "dics.svg", "ranking.png", "ranking.svg"} <= names
    _click(browser, ".ndp-export-nwb")
    annotated = _download(browser, "demo_gui_stg_dicpop.nwb", timeout=120)
    results = ndp.read_results(annotated)
    assert len(results.dics.unit_ids) == 8
    assert len(results.populations) == 8
    assert _off_machine(_requested_urls(browser)) == []
    assert server.serves()


@pytest.mark.slow
def test_neuromodulation_by_two_windows_and_the_dic_trajectory(server, browser):
    _load_demo(browser, server.url)
    _click(browser, ".ndp-tab-neuromodulation")
    assert _text(browser, ".ndp-nm-unit").splitlines()[1] == "6"  # the demo's first modulated unit
    _click_text(browser, ".ndp-nm-mode", "two windows")
    for css, value in ((".ndp-before-start", "3"), (".ndp-before-stop", "1")):
        _type(browser, css, value)
    _click(browser, ".ndp-run-nm")
    assert "before window must start before it stops; got 3 s to 1 s" in _text(browser, ".ndp-error")
    for css, value in ((".ndp-before-start", "0"), (".ndp-before-stop", "3"), (".ndp-after-start", "3"),
                       (".ndp-after-stop", "6")):
        _type(browser, css, value)
    _type(browser, ".ndp-nm-n-models", "30")
    _click(browser, ".ndp-nm-validate")  # off: quick
    _click(browser, ".ndp-run-nm")
    verdict = _text(browser, ".ndp-verdict", timeout=180)
    assert any(word in verdict for word in ("Most plausible", "No detectable change", "equally well")), verdict
    assert _text(browser, ".ndp-nm-windows").startswith("Before: 0 to 3 s; after: 3 to 6 s; 30 models")
    _find(browser, ".ndp-figure-ranking img")

    _type(browser, ".ndp-tr-window", "2")
    _type(browser, ".ndp-tr-step", "1")
    _click(browser, ".ndp-run-trajectory")
    _find(browser, ".ndp-figure-trajectory_unit_6 img", timeout=180)
    table = _find(browser, ".ndp-trajectory-table")
    headers = _headers(browser, ".ndp-trajectory-table")
    assert "window start (s)" in headers
    assert "class seen by the network" in headers  # DICTrajectory.network_class
    rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(rows) == 5  # windows 0-2, 1-3, ..., 4-6 s
    assert rows[0].text.split()[:2] == ["0", "2"]
    assert rows[-1].text.split()[:2] == ["4", "6"]
    assert "bursting" in rows[0].text  # the modulation changes the network's class of the windows
    assert "spiking" in rows[-1].text
    _shoot(browser, "trajectory", at=".ndp-run-trajectory")


@pytest.mark.slow
def test_validated_inference_on_selected_units(server, browser):
    _load_demo(browser, server.url)
    _click(browser, ".ndp-tab-data")
    _type(browser, ".ndp-units", "2, 6")
    _click(browser, ".ndp-apply")
    assert "2 units (units 2, 6)" in _text(browser, ".ndp-status", contains="2 units", timeout=90)
    _click(browser, ".ndp-tab-infer")
    _type(browser, ".ndp-n-models", "5")  # validation stays on (the default)
    _click(browser, ".ndp-run-infer")
    _find(browser, ".ndp-summary", timeout=300)
    assert "validated" in _text(browser, ".ndp-summary", contains="DICs and populations")
    headers = _headers(browser, ".ndp-summary")
    assert {"models simulated", "models that fire like the unit", "yield (valid / simulated)"} <= set(headers)
    rows = [row.text.split() for row in browser.find_elements(By.CSS_SELECTOR, ".ndp-summary tbody tr")]
    assert [row[0] for row in rows] == ["2", "6"]
    for row in rows:
        n_models, n_simulated, n_valid = (int(v) for v in row[-4:-1])
        assert n_models == 5, row
        assert n_simulated >= n_valid == 5, row  # members kept: those that fire like the unit
    _click(browser, ".ndp-tab-population")
    _find(browser, ".ndp-population-table", timeout=60)
    assert "fires like the unit" in _headers(browser, ".ndp-population-table")
    assert server.serves()


@pytest.mark.slow
def test_the_temporary_folder_is_removed_when_the_server_stops(tmp_path, browser):
    gui = GuiServer(tmp_path)
    folder = gui.folder
    table = tmp_path / "one.csv"
    table.write_text("unit_id,spike_time\n" + "".join(f"0,{0.1 * k:.3f}\n" for k in range(30)))
    _open(browser, gui.url)
    _find(browser, ".ndp-upload input[type=file]").send_keys(str(table))
    assert "1 unit " in _text(browser, ".ndp-status", contains="one.csv", timeout=90)
    assert list(folder.rglob("one.csv"))
    gui.stop()
    assert not folder.exists()
