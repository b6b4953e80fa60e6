"""The headless Chromium the browser tests (conftest.py's `browser`) and the benchmarks
(benchmarks/live_harness.py) drive: one set of flags, so a benchmark measures the browser
the tests check. Debian's chromium and chromium-driver, installed by `make test`/`make browser`."""
from __future__ import annotations

import shutil
import tempfile

FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--no-first-run",
         "--window-size=1400,1000", "--autoplay-policy=no-user-gesture-required",
         "--disable-features=BackForwardCache")  # a page left is gone, and its requests with it


def start(profile_prefix: str, *extra_flags: str, capabilities: dict | None = None):
    """A new headless Chromium on a fresh profile folder (returned too: remove it after quit()),
    or RuntimeError saying what to install."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not (binary and driver_path):
        raise RuntimeError("needs chromium and chromium-driver (make test / make browser installs them)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    profile = tempfile.mkdtemp(prefix=profile_prefix)
    for flag in (*FLAGS, f"--user-data-dir={profile}", *extra_flags):
        opts.add_argument(flag)
    for name, value in (capabilities or {}).items():
        opts.set_capability(name, value)
    return webdriver.Chrome(service=Service(driver_path), options=opts), profile
