from django.urls import path

from . import apis

urlpatterns = [
    path("series/<int:series_id>/inference/", apis.SeriesInferenceApi.as_view(), name="series-inference"),
    path("series/<int:series_id>/lung/", apis.SeriesLungApi.as_view(), name="series-lung"),
    path("jobs/", apis.JobListApi.as_view(), name="job-list"),
    path("jobs/<int:job_id>/", apis.JobDetailApi.as_view(), name="job-detail"),
    path("visits/<int:visit_id>/involvement/", apis.VisitInvolvementApi.as_view(), name="visit-involvement"),
    path("patients/<int:patient_id>/involvement/", apis.PatientInvolvementApi.as_view(), name="patient-involvement"),
    path("series/<int:series_id>/slices/<int:z_index>/lung-mask", apis.SliceLungMaskApi.as_view(), name="lung-mask"),
    path(
        "series/<int:series_id>/slices/<int:z_index>/predictions/<int:model_version_id>",
        apis.SlicePredictionApi.as_view(),
        name="slice-prediction",
    ),
]
