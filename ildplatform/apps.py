from django.apps import AppConfig


class IldPlatformConfig(AppConfig):
    name = "ildplatform"
    verbose_name = "ILD platform (imaging core)"

    def ready(self) -> None:
        from django.contrib.auth.models import User
        from django.db.models.signals import m2m_changed

        from . import checks  # noqa: F401  (registers the system checks)
        from .permissions import forget_roles

        m2m_changed.connect(forget_roles, sender=User.groups.through, dispatch_uid="ildplatform.forget_roles")
