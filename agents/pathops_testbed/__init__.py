"""Local stand-ins for the systems the golden path talks to, served over real sockets.

Used by `pathops demo` and by the tests: a GitLab REST API fake, git over HTTP
(`git http-backend`), and a control-plane receiver. Each binds to 127.0.0.1 only.
"""
