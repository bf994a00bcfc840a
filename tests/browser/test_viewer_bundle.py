"""The viewer bundle as Django serves it: found through Vite's manifest, collected, cached for good."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
from django.core.management import call_command
from django.template import Context, Template
from PIL import Image
from whitenoise.middleware import WhiteNoiseMiddleware

from ildplatform import labelmaps

from .conftest import VIEWER


def test_collectstatic_picks_up_the_bundle_with_its_manifest(viewer_bundle, settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "static"
    call_command("collectstatic", interactive=False, verbosity=0)
    manifest = json.loads((settings.STATIC_ROOT / "viewer" / "manifest.json").read_text())
    reader = manifest["src/reader/main.js"]
    collected = settings.STATIC_ROOT / "viewer" / reader["file"]
    assert collected.exists() and collected.with_name(collected.name + ".gz").exists()
    for chunk in reader["imports"]:
        assert (settings.STATIC_ROOT / "viewer" / manifest[chunk]["file"]).exists()
    # Hashed names are immutable for WhiteNoise (long-cache headers); the manifest is not.
    middleware = WhiteNoiseMiddleware(get_response=lambda request: None)
    assert middleware.immutable_file_test(str(collected), f"/static/viewer/{reader['file']}")
    assert not middleware.immutable_file_test("", "/static/viewer/manifest.json")


def test_entry_tag_writes_the_entry_script_its_chunks_and_styles(viewer_bundle):
    manifest = json.loads(viewer_bundle.read_text())
    html = Template('{% load viewer_assets %}{% viewer_entry "src/reader/main.js" %}').render(Context())
    assert f'<script type="module" src="/static/viewer/{manifest["src/reader/main.js"]["file"]}"></script>' in html
    for chunk in manifest["src/reader/main.js"]["imports"]:
        assert f'<link rel="modulepreload" href="/static/viewer/{manifest[chunk]["file"]}">' in html
    styles = Template('{% load viewer_assets %}{% viewer_entry "src/style.css" %}').render(Context())
    assert styles == f'<link rel="stylesheet" href="/static/viewer/{manifest["src/style.css"]["file"]}">'


@pytest.mark.django_db
def test_pages_need_a_login(client):
    for path in ("/worklist/", "/read/1/", "/adjudicate/1/", "/series/1/", "/patients/1/", "/jobs/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), path


def test_pages_still_render_without_the_bundle_and_say_why(settings, monkeypatch):
    from frontend.templatetags import viewer_assets

    monkeypatch.setattr(viewer_assets.finders, "find", lambda path: None)
    monkeypatch.setattr(viewer_assets, "_cached_manifest", viewer_assets._read_manifest)
    settings.STATIC_ROOT = "/nonexistent-static-root"
    html = Template('{% load viewer_assets %}{% viewer_entry "src/reader/main.js" %}').render(Context())
    assert html.startswith("<!--") and "manifest.json not found" in html and "npm run build" in html


def _viewer_codec():
    if shutil.which("node") is None or not (VIEWER / "node_modules" / "fast-png").exists():
        pytest.skip("node or the viewer's node_modules missing (npm ci in frontend/viewer)")
    return VIEWER


def test_viewer_codec_tests_pass():
    """npm test: the browser's label-map codec keeps every grey level and refuses what is not a label map."""
    viewer = _viewer_codec()
    result = subprocess.run(["npm", "test", "--silent"], cwd=viewer, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_viewer_and_server_codecs_read_each_others_label_maps(tmp_path):
    """What the server writes the viewer reads as the same labels, and the other way round."""
    viewer = _viewer_codec()
    labels = (np.arange(40 * 30) % 256).astype(np.uint8).reshape(30, 40)  # 40 wide, 30 high, every value
    (tmp_path / "server.png").write_bytes(labelmaps.encode_png(labels))
    Image.fromarray(labels.astype(np.uint16) * 200).save(tmp_path / "sixteen-bit.png")
    script = f"""
        import {{ readFileSync, writeFileSync }} from 'node:fs';
        import {{ decodeLabelBytes, encodeLabelPng }} from './src/lib/labelmaps.js';
        const labels = decodeLabelBytes(readFileSync('{tmp_path}/server.png'), 40, 30);
        writeFileSync('{tmp_path}/viewer.png', new Uint8Array(await encodeLabelPng(labels, 40, 30).arrayBuffer()));
        try {{ decodeLabelBytes(readFileSync('{tmp_path}/sixteen-bit.png'), 40, 30); }}
        catch (error) {{ writeFileSync('{tmp_path}/refused.txt', error.message); }}
    """
    result = subprocess.run(["node", "--input-type=module", "-e", script], cwd=viewer, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert np.array_equal(labelmaps.decode_png((tmp_path / "viewer.png").read_bytes(), shape=(30, 40)), labels)
    refused = (tmp_path / "refused.txt").read_text()
    assert refused == "label maps are 8-bit single-channel PNGs, got 16-bit with 1 channels"
