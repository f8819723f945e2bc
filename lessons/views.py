from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from lessons.models import Lesson


@login_required
def lesson_list(request: HttpRequest) -> HttpResponse:
    lessons = [
        {
            "slug": lesson.slug,
            "title": lesson.localized("title"),
            "summary": lesson.localized("summary"),
            "minutes": lesson.minutes,
        }
        for lesson in Lesson.objects.all()
    ]
    return render(request, "lessons/list.html", {"lessons": lessons})
