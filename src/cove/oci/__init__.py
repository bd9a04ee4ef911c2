"""Pure wire types of the OCI specs: digests, references, media types, manifests."""
