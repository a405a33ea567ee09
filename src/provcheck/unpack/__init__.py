"""Built-in loaders: directories, archives (libarchive), container images, git refs."""
