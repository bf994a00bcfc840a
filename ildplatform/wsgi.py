import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ildplatform.settings")
application = get_wsgi_application()

# Load every view now, then move the app's long-lived objects (about 140,000: Django, DRF, numpy,
# scikit-image) out of the collector's reach: a full collection otherwise scans them all (about 50 ms
# on our 2-core machines), stalling whatever requests the worker is serving at the time.
get_resolver().url_patterns  # noqa: B018 - imports the URLconf and with it every view
gc.freeze()
