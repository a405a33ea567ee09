"""provcheck_elf: work in progress (see its issue); registers no hooks yet."""
