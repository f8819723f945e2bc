from django.urls import path

from sandbox.terminal import forward, nodeport, views

urlpatterns = [
    path("", views.page, name="sandbox-page"),
    path("files/", views.file_list, name="sandbox-files"),
    path("files/<str:name>", views.file_detail, name="sandbox-file"),
    path("forward/<str:pod>/<int:port>/", forward.forward, name="sandbox-forward"),
    path("forward/<str:pod>/<int:port>/<path:path>", forward.forward, name="sandbox-forward-path"),
    path("nodeport/<int:port>/", nodeport.nodeport, name="sandbox-nodeport"),
    path("nodeport/<int:port>/<path:path>", nodeport.nodeport, name="sandbox-nodeport-path"),
]
