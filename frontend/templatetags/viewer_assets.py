"""`{% viewer_entry "src/pages/reader.js" %}`: the script and style tags of a Vite entry, from its manifest."""

import json
import logging
from functools import lru_cache

from django import template
from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.templatetags.static import static
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

register = template.Library()
logger = logging.getLogger(__name__)

MANIFEST = "viewer/manifest.json"


class ViewerBundleMissing(RuntimeError):
    """The Vite build has not been run (npm ci && npm run build in frontend/viewer)."""


def _read_manifest() -> dict:
    path = finders.find(MANIFEST)
    if path:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    if staticfiles_storage.exists(MANIFEST):
        with staticfiles_storage.open(MANIFEST) as handle:
            return json.load(handle)
    raise ViewerBundleMissing(f"{MANIFEST} not found: run `npm ci && npm run build` in frontend/viewer")


@lru_cache(maxsize=1)
def _cached_manifest() -> dict:
    return _read_manifest()


def manifest() -> dict:
    # Rebuilds during development show up without a restart; production reads the file once.
    return _read_manifest() if settings.DEBUG else _cached_manifest()


def _imported_chunks(entries: dict, name: str, seen: set[str]) -> list[str]:
    found = []
    for imported in entries[name].get("imports", []):
        if imported not in seen:
            seen.add(imported)
            found.append(imported)
            found.extend(_imported_chunks(entries, imported, seen))
    return found


@register.simple_tag
def viewer_entry(name: str) -> str:
    # Without the bundle the server-rendered pages (login, patients) still work, unstyled; the
    # viewer pages stay empty. Say why in the log and in the page source rather than fail.
    try:
        entries = manifest()
        if name not in entries:
            raise ViewerBundleMissing(f"{name} is not an entry of {MANIFEST}; rebuild the viewer bundle")
    except ViewerBundleMissing as error:
        logger.warning("%s", error)
        return format_html("<!-- {} -->", str(error))
    chunks = [name, *_imported_chunks(entries, name, set())]
    styles = [css for chunk in chunks for css in entries[chunk].get("css", [])]
    if entries[name]["file"].endswith(".css"):
        styles.insert(0, entries[name]["file"])
    tags = format_html_join("", '<link rel="stylesheet" href="{}">', ((static(f"viewer/{css}"),) for css in styles))
    if entries[name]["file"].endswith(".js"):
        tags += format_html_join(
            "", '<link rel="modulepreload" href="{}">', ((static(f"viewer/{entries[c]['file']}"),) for c in chunks[1:])
        )
        tags += format_html('<script type="module" src="{}"></script>', static(f"viewer/{entries[name]['file']}"))
    return mark_safe(tags)
