from django.urls import path

from . import apis

urlpatterns = [
    path("series/<int:series_id>/readings/", apis.ReviewAssignApi.as_view(), name="review-assign"),
    path("series/<int:series_id>/review/", apis.ReviewSettingsApi.as_view(), name="review-settings"),
    path("readings/", apis.WorklistApi.as_view(), name="worklist"),
    path("readings/<int:reading_id>/slices/<int:z_index>/mask", apis.MaskApi.as_view(), name="mask"),
    path(
        "readings/<int:reading_id>/slices/<int:z_index>/mask/history",
        apis.MaskHistoryApi.as_view(),
        name="mask-history",
    ),
    path("readings/<int:reading_id>/submit/", apis.SubmitApi.as_view(), name="reading-submit"),
    path("readings/<int:reading_id>/reopen/", apis.ReopenApi.as_view(), name="reading-reopen"),
    path("series/<int:series_id>/agreement/", apis.AgreementApi.as_view(), name="agreement"),
    path(
        "series/<int:series_id>/slices/<int:z_index>/disagreement", apis.DisagreementApi.as_view(), name="disagreement"
    ),
    path("series/<int:series_id>/consensus/", apis.ConsensusApi.as_view(), name="consensus"),
    path(
        "series/<int:series_id>/consensus/slices/<int:z_index>/",
        apis.ConsensusDecisionApi.as_view(),
        name="consensus-decide",
    ),
    path(
        "series/<int:series_id>/consensus/slices/<int:z_index>/mask",
        apis.ConsensusMaskApi.as_view(),
        name="consensus-mask",
    ),
    path("series/<int:series_id>/consensus/finalize/", apis.FinalizeApi.as_view(), name="consensus-finalize"),
    path("audit/", apis.AuditApi.as_view(), name="audit"),
]
