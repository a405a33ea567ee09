"""provcheck_attest: work in progress (see its issue); registers no hooks yet."""
