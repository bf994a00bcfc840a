"""Viewer benchmark on the real RICORD series (248 slices, JPEG Lossless): time to first image, slices
per second while scrolling, and time until the coronal and sagittal reformats beside it are drawn, in
Debian's headless Chromium against a local server.

Run: .venv/bin/python tests/benchmarks/bench_viewer.py [--repeat N]
The bundle is served as in production (collectstatic + WhiteNoise); the slices come as WADO-RS frames from
/dicomweb/ (decoded by the dicom-image-loader's web workers), their series metadata built beforehand as a
worker does after an import.
Targets: first image <= 1.5 s, scrolling >= 20 slices/s, coronal drawn <= 3 s after navigation.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RICORD = Path(os.environ.get("ILD_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")) / "ricord-1a-chest-series"
CHROMIUM = Path(os.environ.get("ILD_CHROMIUM", "/usr/bin/chromium"))
MANIFEST = REPO_ROOT / "frontend" / "static" / "viewer" / "manifest.json"

# The page is observed as a user sees it: the viewport's data-slice says which slice is on screen, and
# Cornerstone's CORNERSTONE_IMAGE_RENDERED event on the viewport element says when it has been drawn.
# Scrolling goes through the slice slider, as a user dragging it does.
SCROLL_JS = """
async ([from, to]) => {
  // Ask for the next slice without waiting for the previous request to settle, then wait until that
  // slice has been drawn (the rendering engine draws once per animation frame).
  const viewport = document.querySelector('[data-testid=viewport]');
  const slider = document.querySelector('.slice-slider');
  const step = from <= to ? 1 : -1;
  const started = performance.now();
  let shown = 0;
  for (let z = from; z !== to + step; z += step) {
    if (viewport.dataset.slice === String(z)) continue;
    const drawn = new Promise((resolve) => {
      const check = () => {
        if (viewport.dataset.slice === String(z)) {
          viewport.removeEventListener('CORNERSTONE_IMAGE_RENDERED', check);
          resolve();
        }
      };
      viewport.addEventListener('CORNERSTONE_IMAGE_RENDERED', check);
    });
    slider.value = String(z);
    slider.dispatchEvent(new Event('input'));
    await drawn;
    shown++;
  }
  return { shown, ms: performance.now() - started };
}
"""


def wheel_scroll(page, notches: int) -> float:
    """Real wheel events over the image, as fast as Playwright sends them: distinct slices drawn per second."""
    viewport = page.locator("[data-testid=viewport]")
    viewport.focus()
    page.keyboard.press("Home")
    page.wait_for_selector("[data-testid=viewport][data-slice='0']")
    page.evaluate(
        """() => {
        const viewport = document.querySelector('[data-testid=viewport]');
        window.benchDrawn = new Set();  // the benchmark's own record, kept in the page
        viewport.addEventListener('CORNERSTONE_IMAGE_RENDERED', () => window.benchDrawn.add(viewport.dataset.slice));
    }"""
    )
    box = viewport.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    started = time.perf_counter()
    for _ in range(notches):
        page.mouse.wheel(0, 100)
    page.wait_for_selector(f"[data-testid=viewport][data-slice='{notches}']")
    elapsed = time.perf_counter() - started
    return page.evaluate("() => window.benchDrawn.size") / elapsed


def measure(browser, base: str, series_id: int, render: str, *, reformats: bool) -> str:
    """One fresh page of the series: its figures as one line."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    if not reformats:  # the page's own switch, as a user who turned it off left it
        context.add_init_script("localStorage.setItem('ild:reformats-shown', 'no')")
    page = context.new_page()
    page.goto(f"{base}/login/")
    page.get_by_label("User name").fill("bench")
    page.get_by_label("Password").fill("bench-pass-1")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/")
    page.goto(f"{base}/series/{series_id}/?overlay=none&render={render}")
    page.wait_for_selector("[data-testid=viewport][data-first-render-ms]", timeout=60_000)
    first_ms = float(page.get_attribute("[data-testid=viewport]", "data-first-render-ms"))
    slices = int(page.get_attribute("#app", "data-slices"))
    # Cold: straight away, while the rest of the series (and the reformats) are still arriving.
    cold = page.evaluate(SCROLL_JS, [0, slices - 1])
    drawn = ""
    if reformats:
        for plane in ("coronal", "sagittal"):  # the time it was first drawn, after navigation
            selector = f"[data-testid=reformat-{plane}]"
            page.wait_for_selector(f"{selector}[data-first-render-ms]", timeout=60_000)
            drawn += f"{plane} {float(page.get_attribute(selector, 'data-first-render-ms')):6.0f} ms  |  "
    page.wait_for_selector("[data-testid=viewport][data-prefetched='1']", timeout=120_000)
    warm = page.evaluate(SCROLL_JS, [slices - 1, 0])
    wheel = wheel_scroll(page, notches=min(150, slices - 1))
    context.close()
    return (
        f"first image {first_ms:6.0f} ms after navigation  |  {drawn}"
        f"scroll while loading {1000 * cold['shown'] / cold['ms']:6.1f} slices/s  |  "
        f"scroll cached {1000 * warm['shown'] / warm['ms']:6.1f} slices/s  ({warm['shown']} slices)  |  "
        f"mouse wheel {wheel:6.1f} slices/s drawn"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--render",
        choices=["auto", "gpu", "cpu"],
        default="auto",
        help="Cornerstone's rendering path (auto: CPU when WebGL is software-emulated)",
    )
    args = parser.parse_args()
    for needed, why in ((RICORD, "RICORD series"), (CHROMIUM, "Chromium"), (MANIFEST, "viewer bundle (npm run build)")):
        if not needed.exists():
            print(f"skipped: {why} not found at {needed}")
            return 0
    scratch = Path(tempfile.mkdtemp(prefix="ild-bench-viewer-"))
    os.environ.update(ILD_VAR_DIR=str(scratch), STATIC_ROOT=str(scratch / "static"),
                      DJANGO_SETTINGS_MODULE="ildplatform.settings", DJANGO_ALLOW_ASYNC_UNSAFE="true")  # fmt: skip
    os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(REPO_ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.testcases import LiveServerThread
    from playwright.sync_api import sync_playwright

    from ildplatform import jobs, services
    from ildplatform.dicom_import import read_sources
    from interop import tasks

    jobs._enqueue = lambda job, queue: None  # no broker here; the viewer needs no job
    tasks.series_metadata_build.apply_async = lambda *args, **kwargs: None  # run below, in place of a worker
    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    services.user_create(username="bench", role="clinician", password="bench-pass-1")
    sources, _ = read_sources([RICORD], services.archive_limits())
    series_id = services.series_import(sources=sources).series[0].series_id
    tasks.series_metadata_build(series_id)

    server = LiveServerThread("127.0.0.1", lambda handler: handler)  # WhiteNoise serves the collected bundle
    server.daemon = True
    server.start()
    server.is_ready.wait()
    base = f"http://127.0.0.1:{server.port}"
    args_chromium = ["--no-sandbox", "--disable-gpu-sandbox", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run",
                     "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]  # fmt: skip
    print(f"RICORD series #{series_id}: 248 slices 512x512, JPEG Lossless; Chromium headless, SwiftShader WebGL")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args_chromium)
        for run in range(args.repeat):
            for reformats in (True, False):  # side by side: the page with and without its reformat column
                print(f"run {run + 1} ({args.render}, reformats {'shown' if reformats else 'hidden'}): "
                      + measure(browser, base, series_id, args.render, reformats=reformats))  # fmt: skip
        browser.close()
    server.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
