"""Content-addressed storage: hashing, directory manifests, the object store and links."""
