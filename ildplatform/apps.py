from django.apps import AppConfig


class IldPlatformConfig(AppConfig):
    name = "ildplatform"
    verbose_name = "ILD platform (imaging core)"
