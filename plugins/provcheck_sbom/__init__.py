"""provcheck_sbom: work in progress (see its issue); registers no hooks yet."""
