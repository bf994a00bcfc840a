from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.home, name="home"),
    path("worklist/", views.worklist, name="worklist"),
    path("read/<int:reading_id>/", views.reader_workspace, name="reader-workspace"),
    path("adjudicate/<int:series_id>/", views.adjudication, name="adjudication"),
    path("series/<int:series_id>/", views.series_viewer, name="series-viewer"),
    path("patients/<int:patient_id>/", views.patient, name="patient"),
    path("jobs/", views.jobs, name="jobs"),
    path("models/", views.models, name="models"),
    path("overview/", views.overview, name="overview"),
]
