"""Drive the demo page in headless Chromium: type a query, wait for both columns, read them back, save a screenshot.

    python -m training.demo.screenshot --model outputs/quickstart/negclip --query "a blue square and no red circle" \\
        --out docs/demo.png

Uses Debian's `chromium` and `chromium-driver` (or CHROMIUM / CHROMEDRIVER paths) through Selenium: nothing is
downloaded. The browser test runs the same `drive_page`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
from dataclasses import dataclass

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")


def browser_missing() -> str | None:
    """Why the page cannot be driven here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if shutil.which(path) is None:
            return f"{path} is not installed (Debian packages chromium and chromium-driver)"
    try:
        import gradio  # noqa: F401
        import selenium  # noqa: F401
    except ImportError as error:
        return f"{error.name} is not installed (pip install -e '.[demo,test]')"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PageReading:
    split: str  # the split box's text
    summary: str
    clip: list[str]  # captions of CLIP's column, best first
    negclip: list[str]


def drive_page(url: str, query: str, screenshot: str | None = None, timeout: float = 60.0) -> PageReading:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(url)
        wait = WebDriverWait(driver, timeout)
        box = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#query textarea"))
        box.send_keys(query)
        driver.find_element(By.CSS_SELECTOR, "#search").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#negclip img") and d.find_elements(By.CSS_SELECTOR, "#clip img"))

        def captions(elem_id: str) -> list[str]:
            images = driver.find_elements(By.CSS_SELECTOR, f"#{elem_id} img")
            return [image.get_attribute("alt") or "" for image in images]

        reading = PageReading(
            split=driver.find_element(By.ID, "split").text,
            summary=driver.find_element(By.ID, "summary").text,
            clip=captions("clip"), negclip=captions("negclip"),
        )
        if screenshot:
            driver.save_screenshot(screenshot)
        return reading
    finally:
        driver.quit()


def main(argv: list[str] | None = None) -> PageReading:
    from .__main__ import build_search, parse_args
    from .app import build_demo, launch

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--query", required=True)
    parser.add_argument("--out", required=True, help="PNG file to write")
    own, rest = parser.parse_known_args(argv)
    missing = browser_missing()
    if missing:
        parser.error(missing)
    args, _ = parse_args(rest)
    args.port = free_port()
    demo = build_demo(build_search(args), [own.query], args.model)
    launch(demo, args.host, args.port, block=False)
    try:
        reading = drive_page(f"http://{args.host}:{args.port}/", own.query, own.out)
    finally:
        demo.close()
    print(reading)
    return reading


if __name__ == "__main__":
    main()
