"""in-toto / SLSA statements read from signed but untrusted JSON."""


def test_provenance_with_hostile_shapes_is_read_without_crashing():
    from provcheck_attest.intoto import slsa_source
    for pred in ({"materials": 1}, {"materials": "abc"}, {"materials": [1, None, {"uri": 5, "digest": 7}]},
                 {"buildDefinition": {"resolvedDependencies": {"a": 1}}}, {"buildDefinition": 3}):
        for version in ("v0.2", "v1"):
            out = slsa_source({"predicateType": f"https://slsa.dev/provenance/{version}", "predicate": pred})
            assert out["predicate_type"].endswith(version) and "commit" not in out
