"""Which sandbox a lesson can use: big enough, with the extra namespaces it names and, if it
needs one, its NodePort."""

from __future__ import annotations

from lessons.engine import fits
from lessons.models import Lesson
from sandbox.models import Sandbox


def test_a_bigger_sandbox_fits_a_smaller_need_and_extra_namespaces_must_be_there() -> None:
    small = Lesson(needs={"size": "small", "extra_namespaces": []})
    medium_db = Lesson(needs={"size": "medium", "extra_namespaces": ["db"]})
    assert fits(small, Sandbox(size="small"))
    assert fits(small, Sandbox(size="large"))
    assert not fits(medium_db, Sandbox(size="small", extra_namespaces=["db"]))
    assert not fits(medium_db, Sandbox(size="medium", extra_namespaces=[]))
    assert fits(medium_db, Sandbox(size="large", extra_namespaces=["db", "web"]))
    assert fits(Lesson(needs={}), Sandbox(size="small"))


def test_a_lesson_that_needs_the_node_port_fits_only_a_sandbox_that_holds_one() -> None:
    nodeport = Lesson(needs={"size": "small", "extra_namespaces": [], "node_ports": 1})
    assert fits(nodeport, Sandbox(size="small", node_port=30123))
    assert not fits(nodeport, Sandbox(size="small", node_port=None))
    assert fits(Lesson(needs={"node_ports": 0}), Sandbox(size="small", node_port=None))
