from django.urls import path

from dashboard import views

app_name = "dashboard"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("bulk", views.bulk, name="bulk"),
    path("audit/", views.audit, name="audit"),
]
