from django.urls import path

from classroom import shadow, views

app_name = "classroom"
urlpatterns = [
    path("", views.class_list, name="list"),
    path("new/", views.class_create, name="create"),
    path("join/", views.join, name="join"),
    path("join/<str:code>/", views.join, name="join-link"),
    path("<int:pk>/", views.class_detail, name="detail"),
    path("<int:pk>/edit/", views.class_edit, name="edit"),
    path("<int:pk>/staff/", views.class_staff, name="staff"),
    path("<int:pk>/delete/", views.class_delete, name="delete"),
    path("<int:pk>/students/<int:user_id>/", views.student_page, name="student"),
    path("<int:pk>/students/<int:user_id>/time/", views.student_time, name="student-time"),
    path("<int:pk>/students/<int:user_id>/watch/", shadow.watch, name="watch"),
    path("<int:pk>/students/<int:user_id>/watch/act/", shadow.act, name="watch-act"),
    path("<int:pk>/rehearse/", views.rehearse, name="rehearse"),
    path("<int:pk>/results.csv", views.export_csv, name="export-csv"),
    path("<int:pk>/results.json", views.export_json, name="export-json"),
]
