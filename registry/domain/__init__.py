"""The domain: registries, profiles, stacks, merges, catalogs and the reference's documents; no SQL, no Flask."""
