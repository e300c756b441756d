"""Another artver repository, read at a Git revision: data registries.

`location` says what a repository argument names (a local path, a file:// URL, or a Git
server's URL); `clones` keeps the bare copies of repositories on Git servers; `source` opens
a repository at a revision and reads what it tracks and its committed config; `decide` holds
the pure decisions (what a path names there, whether an import is behind). Nothing here
moves data: `artver.ops.external_data` fetches through the transfer machinery.
"""
