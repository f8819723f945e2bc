from django.urls import path

from lessons import views

app_name = "lessons"
urlpatterns = [
    path("", views.lesson_list, name="list"),
    path("<slug:slug>/", views.lesson_page, name="detail"),
    path("<slug:slug>/start", views.lesson_start, name="start"),
]
