"""System checks of the imaging core's settings (run by `manage.py check`, and so at every start)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Warning, register


@register()
def deidentify_salt_secret(app_configs, **kwargs) -> list[Warning]:
    if settings.DEIDENTIFY_SALT != settings.PUBLIC_DEIDENTIFY_SALT:
        return []
    return [
        Warning(
            "DEIDENTIFY_SALT is the public value of installations from before it was made random: anyone "
            "can recompute a pseudonym from a public patient ID.",
            hint="Set a secret DEIDENTIFY_SALT (or delete var/deidentify_salt) on an installation that has "
            "imported nothing yet; on one that has, a new salt gives re-imported patients new pseudonyms.",
            id="ildplatform.W001",
        )
    ]
