# Headless Chromium (Debian's) drives the web console in the tests (issue 20; the HTTP
# listener's browser tests use it too); chromedriver is Debian's build of the same version.
want_deb chromium /usr/bin/chromium
want_deb chromium-driver /usr/bin/chromedriver
