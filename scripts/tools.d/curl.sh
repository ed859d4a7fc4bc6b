# curl: the HTTP listener's tests drive the REST proxy with it (issue 18).
want_deb curl curl
