# The admin listener (issue 20): Debian's Prometheus server scrapes a real cluster in the
# tests, and its promtool checks /metrics and the alert rules under deploy/.
want_deb prometheus /usr/bin/promtool
