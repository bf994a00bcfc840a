"""The viewer bundle as Django serves it: found through Vite's manifest, collected, cached for good."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.template import Context, Template
from whitenoise.middleware import WhiteNoiseMiddleware


def test_collectstatic_picks_up_the_bundle_with_its_manifest(viewer_bundle, settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "static"
    call_command("collectstatic", interactive=False, verbosity=0)
    manifest = json.loads((settings.STATIC_ROOT / "viewer" / "manifest.json").read_text())
    reader = manifest["src/pages/reader.js"]
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
    html = Template('{% load viewer_assets %}{% viewer_entry "src/pages/reader.js" %}').render(Context())
    assert f'<script type="module" src="/static/viewer/{manifest["src/pages/reader.js"]["file"]}"></script>' in html
    for chunk in manifest["src/pages/reader.js"]["imports"]:
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
    html = Template('{% load viewer_assets %}{% viewer_entry "src/pages/reader.js" %}').render(Context())
    assert html.startswith("<!--") and "manifest.json not found" in html and "npm run build" in html
