"""The live picture of a student's namespace: one shared list+watch per resource kind for the
whole cluster (watcher.py, reflector.py), compacted (events.py) and fanned out to one Channels
group per sandbox; a new subscriber first gets a snapshot (snapshot.py)."""
