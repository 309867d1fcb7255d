"""Tell the PathOps control plane how a Jenkins job ended (every pipeline's `post { always }`)."""
