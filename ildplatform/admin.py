from django.contrib import admin

from .models import Patient, Series, Slice, Visit


class VisitInline(admin.TabularInline):
    model = Visit
    extra = 0


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    list_display = ("pseudonym", "sex", "birth_year", "created_at")
    search_fields = ("pseudonym",)
    inlines = [VisitInline]


@admin.register(Visit)
class VisitAdmin(admin.ModelAdmin):
    list_display = ("patient", "date", "label", "fvc_pct_pred", "dlco_pct_pred")
    list_filter = ("label",)


@admin.register(Series)
class SeriesAdmin(admin.ModelAdmin):
    list_display = ("id", "visit", "slice_count", "rows", "columns", "pixel_spacing_row", "slice_spacing")
    readonly_fields = ("series_uid", "study_uid", "volume_file")


@admin.register(Slice)
class SliceAdmin(admin.ModelAdmin):
    list_display = ("id", "series", "z_index", "z_position")
    list_filter = ("series",)
