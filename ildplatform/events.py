"""Events of the core that apps above it act on (they connect receivers in AppConfig.ready).

Receivers run inside the sender's transaction, so what they write commits or rolls back with it.
"""

from django.dispatch import Signal

# A new series was stored by an import; `series` is the Series. (Lung masks are computed on it.)
series_imported = Signal()
