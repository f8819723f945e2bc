from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("sandbox.urls")),
    path("accounts/", include("accounts.urls")),
    path("lessons/", include("lessons.urls")),
    path("classes/", include("classroom.urls")),
    path("platform/", include("dashboard.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]
