from django.urls import path

from lessons import preview, views

app_name = "lessons"
urlpatterns = [
    path("", views.lesson_list, name="list"),
    # Before <slug>: the author's preview (a lesson's slug may not be "preview", see scaffold.py).
    path("preview/", preview.preview_list, name="preview-list"),
    path("preview/<str:folder>/", preview.preview_page, name="preview"),
    path("preview/<str:folder>/fingerprint", preview.preview_fingerprint, name="preview-fingerprint"),
    path("<slug:slug>/", views.lesson_page, name="detail"),
    path("<slug:slug>/start", views.lesson_start, name="start"),
]
