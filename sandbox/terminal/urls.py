from django.urls import path

from sandbox.terminal import views

urlpatterns = [
    path("", views.page, name="sandbox-page"),
    path("files/", views.file_list, name="sandbox-files"),
    path("files/<str:name>", views.file_detail, name="sandbox-file"),
]
