"""provcheck_release: work in progress (see its issue); registers no hooks yet."""
