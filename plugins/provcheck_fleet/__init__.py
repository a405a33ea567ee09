"""provcheck_fleet: work in progress (see its issue); registers no hooks yet."""
