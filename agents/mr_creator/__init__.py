"""Apply a patch bundle at its commit and open the GitLab merge request."""
