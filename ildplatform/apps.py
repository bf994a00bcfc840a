from django.apps import AppConfig


class IldPlatformConfig(AppConfig):
    name = "ildplatform"
    verbose_name = "ILD platform (imaging core)"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
