from django.apps import AppConfig


class InteropConfig(AppConfig):
    """DICOMweb (QIDO-RS, WADO-RS, WADO-URI, STOW-RS) and DICOM SEG: the top of the house, beside the
    pages; it reads and writes through the other apps' selectors and services."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "interop"
