"""provcheck_testdata: work in progress (see its issue); registers no hooks yet."""
