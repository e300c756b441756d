"""Remote object storage: where the cache's objects are shared (S3, GCS, a directory, any fsspec
filesystem), laid out like the cache (`<2 hex>/<30 hex>`)."""
